import Foundation
import KilnInference
#if KILN_X86_KERNELS
    import KilnKernelsAVX512
#endif

/// A cache-friendly single-precision GEMM: packed 6-row register tiles, 16 columns wide with
/// AVX2 (SIMD8 micro-kernel) or 32 wide with AVX-512 (`GEMMTileAVX512`), chosen at run time.
///
/// A (M×K) is packed into row panels of `mr` (weights are packed once at build time, the same
/// for both tile widths); B (K×N) is packed into column panels of `panelWidth` by the caller's
/// `packB` closure. C is M×N row-major with leading dimension `ldc`. Both tiles sum each output's
/// products in the same order, so the choice never changes a result.
enum GEMM {
    static let mr = 6
    static let nr = 16

    /// Whether the AVX-512 tile runs: the CPU has AVX-512F and `KILN_REFERENCE_AVX512` is not `0`.
    static let useAVX512: Bool = {
        #if KILN_X86_KERNELS
            return CPUFeatures.hasAVX512 && ProcessInfo.processInfo.environment["KILN_REFERENCE_AVX512"] != "0"
        #else
            return false
        #endif
    }()

    /// Columns of a packed B panel: 32 with the AVX-512 tile, else 16.
    static var panelWidth: Int { useAVX512 ? 32 : nr }

    #if KILN_X86_KERNELS
        /// `activation` as a `GEMMTileAVX512` code with its parameters, for those the AVX-512
        /// kernels apply on their registers (Relu and the clamp-based ones); nil for the others.
        static func tileActivation(_ activation: Activation) -> (code: Int32, alpha: Float, beta: Float)? {
            switch activation {
            case .none: (GEMMTileAVX512.noActivation, 0, 0)
            case .relu: (GEMMTileAVX512.relu, 0, 0)
            case .hardSwish: (GEMMTileAVX512.hardSwish, 0, 0)
            case .hardSigmoid(let a, let b): (GEMMTileAVX512.hardSigmoid, a, b)
            default: nil
            }
        }
    #endif

    /// Floats a B panel buffer holds past its rows: `packB` may write one 16-float vector beyond
    /// the last row (whole-vector copies of runs that end inside it).
    static let panelSlack = 16

    /// Floats the packed form of an M×K matrix takes.
    static func packedASize(m: Int, k: Int) -> Int { (m + mr - 1) / mr * mr * k }

    /// Packs row-major A (M×K, row stride `lda`, column stride `sk`) into `mr`-row panels.
    static func packA(_ a: UnsafePointer<Float>, m: Int, k: Int, lda: Int, sk: Int = 1, into out: UnsafeMutablePointer<Float>) {
        let panels = (m + mr - 1) / mr
        for p in 0..<panels {
            let base = out + p * mr * k
            for kk in 0..<k {
                for r in 0..<mr {
                    let row = p * mr + r
                    base[kk * mr + r] = row < m ? a[row * lda + kk * sk] : 0
                }
            }
        }
    }

    /// Packs columns `n0..<n0+nr` of row-major B (K×N, row stride `ldb`, column stride `sn`) into one panel `nr` wide.
    @inline(__always)
    static func packBPanel(_ b: UnsafePointer<Float>, k: Int, n: Int, ldb: Int, sn: Int = 1, n0: Int, nr: Int,
                           into out: UnsafeMutablePointer<Float>) {
        let cols = min(nr, n - n0)
        if cols == nr && sn == 1 {
            // Whole rows of 16 floats as vector copies (a memmove call per row costs more than the copy).
            let src = UnsafeRawPointer(b + n0), dst = UnsafeMutableRawPointer(out)
            let halves = nr / 16
            for kk in 0..<k {
                for h in 0..<halves {
                    let v = src.loadUnaligned(fromByteOffset: (kk &* ldb &+ h &* 16) &* 4, as: SIMD16<Float>.self)
                    dst.storeBytes(of: v, toByteOffset: (kk &* nr &+ h &* 16) &* 4, as: SIMD16<Float>.self)
                }
            }
        } else {
            for kk in 0..<k {
                let dst = out + kk * nr
                for j in 0..<nr { dst[j] = j < cols ? b[kk * ldb + (n0 + j) * sn] : 0 }
            }
        }
    }

    /// Computes one mr×nr tile = Ap·Bp over `k`, writes rows < `rows` and columns < `cols` of C.
    @inline(__always)
    static func kernel(_ ap: UnsafePointer<Float>, _ bp: UnsafePointer<Float>, k: Int, ldb: Int = 16,
                       _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int, accumulate: Bool,
                       bias: UnsafePointer<Float>? = nil, activation: Activation = .none, final: Bool = false) -> Bool {
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
        var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
        var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
        var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
        let rb = UnsafeRawPointer(bp)
        var a = ap
        let rowBytes = ldb &* 4
        for kk in 0..<k {
            let b0 = rb.loadUnaligned(fromByteOffset: kk &* rowBytes, as: SIMD8<Float>.self)
            let b1 = rb.loadUnaligned(fromByteOffset: kk &* rowBytes &+ 32, as: SIMD8<Float>.self)
            var s = SIMD8<Float>(repeating: a[0])
            c00.addProduct(s, b0); c01.addProduct(s, b1)
            s = SIMD8<Float>(repeating: a[1])
            c10.addProduct(s, b0); c11.addProduct(s, b1)
            s = SIMD8<Float>(repeating: a[2])
            c20.addProduct(s, b0); c21.addProduct(s, b1)
            s = SIMD8<Float>(repeating: a[3])
            c30.addProduct(s, b0); c31.addProduct(s, b1)
            s = SIMD8<Float>(repeating: a[4])
            c40.addProduct(s, b0); c41.addProduct(s, b1)
            s = SIMD8<Float>(repeating: a[5])
            c50.addProduct(s, b0); c51.addProduct(s, b1)
            a += 6
        }
        @inline(__always) func store(_ dst: UnsafeMutablePointer<Float>, _ v0: SIMD8<Float>, _ v1: SIMD8<Float>) {
            let raw = UnsafeMutableRawPointer(dst)
            raw.storeBytes(of: v0, as: SIMD8<Float>.self)
            raw.storeBytes(of: v1, toByteOffset: 32, as: SIMD8<Float>.self)
        }
        // Accumulate: fold what C already holds into the registers first, so the epilogue sees the total.
        if accumulate && rows == mr && cols == nr {
            // A full tile adds what C holds straight from C.
            @inline(__always) func ld(_ r: Int, _ h: Int) -> SIMD8<Float> {
                UnsafeRawPointer(c + r &* ldc).loadUnaligned(fromByteOffset: h &* 32, as: SIMD8<Float>.self)
            }
            c00 += ld(0, 0); c01 += ld(0, 1); c10 += ld(1, 0); c11 += ld(1, 1)
            c20 += ld(2, 0); c21 += ld(2, 1); c30 += ld(3, 0); c31 += ld(3, 1)
            c40 += ld(4, 0); c41 += ld(4, 1); c50 += ld(5, 0); c51 += ld(5, 1)
        } else if accumulate {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: mr * nr) { t in
                let tp = t.baseAddress!
                if cols < nr || rows < mr { tp.initialize(repeating: 0, count: mr * nr) }
                for r in 0..<rows { (tp + r * nr).update(from: c + r * ldc, count: cols) }
                let raw = UnsafeRawPointer(tp)
                @inline(__always) func ld(_ r: Int, _ h: Int) -> SIMD8<Float> {
                    raw.loadUnaligned(fromByteOffset: (r * nr + h * 8) * 4, as: SIMD8<Float>.self)
                }
                c00 += ld(0, 0); c01 += ld(0, 1); c10 += ld(1, 0); c11 += ld(1, 1)
                c20 += ld(2, 0); c21 += ld(2, 1); c30 += ld(3, 0); c31 += ld(3, 1)
                c40 += ld(4, 0); c41 += ld(4, 1); c50 += ld(5, 0); c51 += ld(5, 1)
            }
        }
        // Epilogue on registers: bias per row (the caller applies any activation after the store).
        var vectorActivation = true
        if final {
            if let bias {
                @inline(__always) func bv(_ r: Int) -> SIMD8<Float> { SIMD8<Float>(repeating: r < rows ? bias[r] : 0) }
                var v = bv(0); c00 += v; c01 += v
                v = bv(1); c10 += v; c11 += v
                v = bv(2); c20 += v; c21 += v
                v = bv(3); c30 += v; c31 += v
                v = bv(4); c40 += v; c41 += v
                v = bv(5); c50 += v; c51 += v
            }
            // Activations run after the store as a vectorised loop over the tile rows.
            vectorActivation = activation == .none
        }
        if cols == nr {
            store(c, c00, c01)
            if rows > 1 { store(c + ldc, c10, c11) }
            if rows > 2 { store(c + 2 * ldc, c20, c21) }
            if rows > 3 { store(c + 3 * ldc, c30, c31) }
            if rows > 4 { store(c + 4 * ldc, c40, c41) }
            if rows > 5 { store(c + 5 * ldc, c50, c51) }
            return vectorActivation
        }
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 12) { tile in
            tile[0] = c00; tile[1] = c01; tile[2] = c10; tile[3] = c11; tile[4] = c20; tile[5] = c21
            tile[6] = c30; tile[7] = c31; tile[8] = c40; tile[9] = c41; tile[10] = c50; tile[11] = c51
            let flat = UnsafeRawPointer(tile.baseAddress!).assumingMemoryBound(to: Float.self)
            for r in 0..<rows {
                for j in 0..<cols {
                    c[r * ldc + j] = flat[r * nr + j]
                }
            }
        }
        return vectorActivation
    }

    /// The K block `run` sums in: K split into equal blocks of at most 192.
    static func kBlock(_ k: Int) -> Int {
        let blocks = (k + 191) / 192
        return (k + blocks - 1) / max(1, blocks)
    }

    /// C (M×N) = packedA · B, with B packed through `packB(n0, k0, kb, panel, width)`: rows
    /// `k0..<k0+kb` of columns `n0..<n0+width`, row-major `kb`×`width` (the buffer has
    /// `panelSlack` floats more).
    ///
    /// Loop order (as in Goto's GEMM): column panels in chunks whose C block stays in L2; per
    /// chunk, K in blocks of `kc` (a 16 KB B-panel slice in L1); per block, each panel is packed
    /// once and swept by every 6-row A panel. So A is read once per chunk — not once per column
    /// panel, which streamed multi-megabyte weights from memory again and again on layers with
    /// few output positions. After the last K block each tile gets `bias[row]` and `activation`.
    /// Threads split the column panels, or the row panels when there are few column panels.
    static func run(m: Int, n: Int, k: Int, packedA: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
                    bias: UnsafePointer<Float>?, activation: Activation, accumulate: Bool = false, threads: Int,
                    packB: (Int, Int, Int, UnsafeMutablePointer<Float>, Int) -> Void) {
        if n <= 4 && !accumulate {
            gemv(m: m, n: n, k: k, packedA: packedA, c: c, ldc: ldc, bias: bias, activation: activation, threads: threads, packB: packB)
            return
        }
        let wide = useAVX512
        let nr = wide ? 32 : GEMM.nr
        let nPanels = (n + nr - 1) / nr
        let mPanels = (m + mr - 1) / mr
        let cp = SendablePointer(c)
        let biasP = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        let work = m * k * n
        let useThreads = work < 32768 ? 1 : threads
        // K in equal blocks of at most 192: a ≤ 24 KB slice of a 32-wide B panel stays in L1, and
        // no short last block pays a whole C reload for a few products (K = 147 is one block, not
        // 128 + 19). The same for both tile widths, so both sum every output in the same blocks
        // (bit-identical results).
        let kc = GEMM.kBlock(k)
        #if KILN_X86_KERNELS
            // Relu and the clamp-based activations run inside the AVX-512 tile, on its registers.
            let tileActivation = GEMM.tileActivation(activation)
        #endif
        // Panels per chunk: the chunk's C block (M × chunk columns) within about 256 KB.
        let chunk = max(1, (256 << 10) / max(1, m * nr * 4))
        // Sweeps column panels `panels` × row panels `rowPanels` of C.
        func sweep(_ panels: Range<Int>, _ rowPanels: Range<Int>) {
            let panel = AlignedFloats.allocate(kc * nr + GEMM.panelSlack)
            defer { panel.deallocate() }
            var c0 = panels.lowerBound
            while c0 < panels.upperBound {
                let c1 = min(panels.upperBound, c0 + chunk)
                var k0 = 0
                while k0 < k {
                    let kb = min(kc, k - k0)
                    let last = k0 + kb >= k
                    for np in c0..<c1 {
                        let n0 = np * nr
                        let cols = min(nr, n - n0)
                        // A last panel of at most 16 columns runs the 16-wide tile (half the work).
                        let narrow = wide && cols <= GEMM.nr
                        packB(n0, k0, kb, panel, narrow ? GEMM.nr : nr)
                        var mp = rowPanels.lowerBound
                        while mp < rowPanels.upperBound {
                            // Two row panels at a time in the 12-row AVX-512 tile where there are two.
                            let pair = wide && !narrow && mp + 1 < rowPanels.upperBound
                            let m0 = mp * mr
                            let rows = min(pair ? 2 * mr : mr, m - m0)
                            defer { mp += pair ? 2 : 1 }
                            let cTile = cp.p + m0 * ldc + n0
                            let tileBias = last ? biasP.map { UnsafePointer($0.p + m0) } : nil
                            let ap = packedA + mp * mr * k + k0 * mr
                            var done = true
                            #if KILN_X86_KERNELS
                                if wide {
                                    let fused = last ? tileActivation : nil
                                    if narrow {
                                        GEMMTileAVX512.tile16(ap, panel, k: kb, ldb: GEMM.nr, cTile, ldc: ldc, rows: rows, cols: cols,
                                                              accumulate: accumulate || k0 > 0, bias: tileBias,
                                                              activation: fused?.code ?? GEMMTileAVX512.noActivation,
                                                              alpha: fused?.alpha ?? 0, beta: fused?.beta ?? 0)
                                    } else if pair {
                                        GEMMTileAVX512.tile12(ap, ap + mr * k, panel, k: kb, ldb: nr, cTile, ldc: ldc, rows: rows, cols: cols,
                                                              accumulate: accumulate || k0 > 0, bias: tileBias,
                                                              activation: fused?.code ?? GEMMTileAVX512.noActivation,
                                                              alpha: fused?.alpha ?? 0, beta: fused?.beta ?? 0)
                                    } else {
                                        GEMMTileAVX512.tile(ap, panel, k: kb, ldb: nr, cTile, ldc: ldc, rows: rows, cols: cols,
                                                            accumulate: accumulate || k0 > 0, bias: tileBias,
                                                            activation: fused?.code ?? GEMMTileAVX512.noActivation,
                                                            alpha: fused?.alpha ?? 0, beta: fused?.beta ?? 0)
                                    }
                                    done = tileActivation != nil
                                } else {
                                    done = kernel(ap, panel, k: kb, ldb: GEMM.nr, cTile, ldc: ldc, rows: rows, cols: cols,
                                                  accumulate: accumulate || k0 > 0, bias: tileBias, activation: activation, final: last)
                                }
                            #else
                                done = kernel(ap, panel, k: kb, ldb: nr, cTile, ldc: ldc, rows: rows, cols: cols,
                                              accumulate: accumulate || k0 > 0, bias: tileBias, activation: activation, final: last)
                            #endif
                            if last && !done { activation.apply(cTile, rows: rows, cols: cols, ld: ldc) }
                        }
                    }
                    k0 += kb
                }
                c0 = c1
            }
        }
        if useThreads > 1 && nPanels < 4 * useThreads && mPanels >= 2 * useThreads {
            // Few column panels (small feature maps, large weights): threads split the rows, so each
            // reads its own part of A instead of all of it.
            // One chunk per thread: every chunk packs all of B.
            parallelFor(mPanels, threads: useThreads, chunksPerThread: 1) { rows in sweep(0..<nPanels, rows) }
        } else {
            parallelFor(nPanels, threads: useThreads) { panels in sweep(panels, 0..<mPanels) }
        }
    }

    /// C = packedA · B for N ≤ 4 columns (squeeze-excite convolutions, classifier heads): one
    /// matrix-vector product per column, so no work is spent on the empty columns of a tile.
    ///
    /// These layers stream megabytes of weights for a few hundred thousand products, so the loop
    /// is built for streaming: B's column is laid out like the packed A panel, and each panel is
    /// one run of 8-float multiply-adds over contiguous memory.
    static func gemv(m: Int, n: Int, k: Int, packedA: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
                     bias: UnsafePointer<Float>?, activation: Activation, threads: Int,
                     packB: (Int, Int, Int, UnsafeMutablePointer<Float>, Int) -> Void) {
        let width = panelWidth
        let panel = AlignedFloats.allocate(max(1, k) * width + GEMM.panelSlack)
        defer { panel.deallocate() }
        packB(0, 0, k, panel, width)
        // Column j of B with each value repeated `mr` times, so that it lines up with the packed
        // A panel (k × 6 interleaved): a panel's products are then one contiguous stream of
        // elementwise multiply-adds, 8 lanes at a time, with no broadcasts and no wasted lanes.
        let span = mr * k
        let expanded = AlignedFloats.allocate(max(1, n * span))
        defer { expanded.deallocate() }
        for j in 0..<n {
            let e = expanded + j * span
            for kk in 0..<k {
                let v = panel[kk * width + j]
                for r in 0..<mr { e[kk * mr + r] = v }
            }
        }
        let mPanels = (m + mr - 1) / mr
        let cp = SendablePointer(c), ep = SendablePointer(expanded)
        let biasP = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        parallelFor(mPanels, threads: m * k < 65536 ? 1 : threads, minChunk: 8) { range in
            for mp in range {
                let a = UnsafeRawPointer(packedA + mp * span)
                let rows = min(mr, m - mp * mr)
                for j in 0..<n {
                    // Column j starts 24·j·k bytes in: not 16-byte aligned for odd k, so every load
                    // is unaligned (SSE's aligned mulps faulted there in the portable SIMD build).
                    let x = UnsafeRawPointer(ep.p + j * span)
                    // Six accumulators over 48-float blocks (8 k steps): float p of the stream
                    // belongs to row p mod 6, so accumulators i and i + 3 share a lane → row map.
                    var s = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
                    @inline(__always) func term(_ p: Int) -> SIMD8<Float> {
                        a.loadUnaligned(fromByteOffset: p &* 4, as: SIMD8<Float>.self) * x.loadUnaligned(fromByteOffset: p &* 4, as: SIMD8<Float>.self)
                    }
                    var p = 0
                    while p &+ 48 <= span {
                        s.0.addProduct(a.loadUnaligned(fromByteOffset: p &* 4, as: SIMD8<Float>.self), x.loadUnaligned(fromByteOffset: p &* 4, as: SIMD8<Float>.self))
                        s.1.addProduct(a.loadUnaligned(fromByteOffset: (p &+ 8) &* 4, as: SIMD8<Float>.self), x.loadUnaligned(fromByteOffset: (p &+ 8) &* 4, as: SIMD8<Float>.self))
                        s.2.addProduct(a.loadUnaligned(fromByteOffset: (p &+ 16) &* 4, as: SIMD8<Float>.self), x.loadUnaligned(fromByteOffset: (p &+ 16) &* 4, as: SIMD8<Float>.self))
                        s.3.addProduct(a.loadUnaligned(fromByteOffset: (p &+ 24) &* 4, as: SIMD8<Float>.self), x.loadUnaligned(fromByteOffset: (p &+ 24) &* 4, as: SIMD8<Float>.self))
                        s.4.addProduct(a.loadUnaligned(fromByteOffset: (p &+ 32) &* 4, as: SIMD8<Float>.self), x.loadUnaligned(fromByteOffset: (p &+ 32) &* 4, as: SIMD8<Float>.self))
                        s.5.addProduct(a.loadUnaligned(fromByteOffset: (p &+ 40) &* 4, as: SIMD8<Float>.self), x.loadUnaligned(fromByteOffset: (p &+ 40) &* 4, as: SIMD8<Float>.self))
                        p &+= 48
                    }
                    var lanes = (s.0 + s.3, s.1 + s.4, s.2 + s.5)
                    // Whole 8-float steps left (fewer than 6), then the last few floats one by one.
                    var step = 0
                    while p &+ 8 <= span {
                        switch step % 3 {
                        case 0: lanes.0 += term(p)
                        case 1: lanes.1 += term(p)
                        default: lanes.2 += term(p)
                        }
                        step &+= 1
                        p &+= 8
                    }
                    var sums = SIMD8<Float>()
                    for l in 0..<8 {
                        sums[l % 6] += lanes.0[l]
                        sums[(l + 2) % 6] += lanes.1[l]
                        sums[(l + 4) % 6] += lanes.2[l]
                    }
                    while p < span {
                        sums[p % 6] += a.load(fromByteOffset: p * 4, as: Float.self) * x.loadUnaligned(fromByteOffset: p * 4, as: Float.self)
                        p += 1
                    }
                    for r in 0..<rows {
                        let row = mp * mr + r
                        var v = sums[r]
                        if let biasP { v += biasP.p[row] }
                        let dst = cp.p + row * ldc + j
                        dst.pointee = v
                        activation.apply(dst, 1)
                    }
                }
            }
        }
    }

    /// Plain C = A·B for row-major A (M×K, strides lda/sak) and B (K×N, strides ldb/sbn); C is M×N dense.
    static func multiply(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, sak: Int = 1,
                         b: UnsafePointer<Float>, ldb: Int, sbn: Int = 1, c: UnsafeMutablePointer<Float>, threads: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            c.initialize(repeating: 0, count: m * n)
            return
        }
        if m == 1 {
            // Output columns split across threads (a 512 → 1000 classifier streams 2 MB of weights).
            let ap = SendablePointer(UnsafeMutablePointer(mutating: a)), bp = SendablePointer(UnsafeMutablePointer(mutating: b))
            let cp = SendablePointer(c)
            parallelFor(n, threads: n * k < 65536 ? 1 : threads, minChunk: 16) { columns in
                multiplyRow(n: columns.count, k: k, a: ap.p, sak: sak, b: bp.p + columns.lowerBound * sbn, ldb: ldb, sbn: sbn,
                            c: cp.p + columns.lowerBound)
            }
            return
        }
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: packedASize(m: m, k: k))
        defer { packed.deallocate() }
        packA(a, m: m, k: k, lda: lda, sk: sak, into: packed)
        run(m: m, n: n, k: k, packedA: packed, c: c, ldc: n, bias: nil, activation: .none, threads: threads) { n0, k0, kb, panel, width in
            packBPanel(b + k0 * ldb, k: kb, n: n, ldb: ldb, sn: sbn, n0: n0, nr: width, into: panel)
        }
    }

    /// c (1×N) = a (1×K) · B for a single row (classifier heads): with B's rows contiguous
    /// (`sbn == 1`) an axpy per k along N; with its columns contiguous (`ldb == 1`, a transposed
    /// weight) a dot product per output with four partial sums. No packing, no 6-row tile for one row.
    static func multiplyRow(n: Int, k: Int, a: UnsafePointer<Float>, sak: Int, b: UnsafePointer<Float>, ldb: Int, sbn: Int,
                            c: UnsafeMutablePointer<Float>) {
        if sbn == 1 {
            c.initialize(repeating: 0, count: n)
            for kk in 0..<k {
                let av = a[kk * sak]
                let row = b + kk * ldb
                for j in 0..<n { c[j] += av * row[j] }
            }
            return
        }
        if ldb == 1 {
            let ar = UnsafeRawPointer(a)
            for j in 0..<n {
                let col = UnsafeRawPointer(b + j * sbn)
                var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
                var kk = 0
                if sak == 1 {
                    while kk &+ 32 <= k {
                        @inline(__always) func ld(_ p: UnsafeRawPointer, _ i: Int) -> SIMD8<Float> { p.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self) }
                        s0.addProduct(ld(ar, kk), ld(col, kk))
                        s1.addProduct(ld(ar, kk &+ 8), ld(col, kk &+ 8))
                        s2.addProduct(ld(ar, kk &+ 16), ld(col, kk &+ 16))
                        s3.addProduct(ld(ar, kk &+ 24), ld(col, kk &+ 24))
                        kk &+= 32
                    }
                }
                var sum = ((s0 + s1) + (s2 + s3)).sum()
                while kk < k {
                    sum += a[kk * sak] * b[j * sbn + kk]
                    kk += 1
                }
                c[j] = sum
            }
            return
        }
        for j in 0..<n {
            var sum: Float = 0
            for kk in 0..<k { sum += a[kk * sak] * b[kk * ldb + j * sbn] }
            c[j] = sum
        }
    }
}
