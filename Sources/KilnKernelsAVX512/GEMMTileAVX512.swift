#if arch(x86_64)
    /// The reference backend's kernels for CPUs with AVX-512F: GEMM tiles (6 rows × 32 columns in
    /// 12 zmm accumulators, and 12×32, 6×16 and 7×32 variants) and per-plane depthwise rows.
    ///
    /// This module alone is compiled for `skylake-avx512`; `KilnInference` calls it only after
    /// checking the CPU (`CPUFeatures.avx512`), so a build stays runnable on AVX2-only machines.
    /// It holds nothing but raw-pointer code with every SIMD operation inlined, so no generic
    /// specialisation compiled for AVX-512 can be shared with (and picked by) other modules.
    /// Each output element sums its products in the same order as the AVX2 tile, so both give
    /// bit-identical results.
    public enum GEMMTileAVX512 {
        /// Rows of a tile (the packed-A panel height, fixed by the engine format).
        public static let rows = 6
        /// Columns of a tile, the width of a packed B panel for this kernel.
        public static let columns = 32

        /// `activation` code: none.
        public static let noActivation: Int32 = 0
        /// `activation` code: x · max(0, min(1, x/6 + 1/2)).
        public static let hardSwish: Int32 = 1
        /// `activation` code: max(0, min(1, αx + β)).
        public static let hardSigmoid: Int32 = 2
        /// `activation` code: x > 0 ? x : 0, NaN kept.
        public static let relu: Int32 = 3

        /// Computes one 6×32 tile of C = Ap·Bp over `k` (plus C's own values when `accumulate`),
        /// then adds `bias[row]` when given, applies `activation`, and writes rows < `rows` and
        /// columns < `cols`.
        ///
        /// `ap` is a 6-row A panel (k × 6 interleaved), `bp` a 32-wide B panel with row stride
        /// `ldb` floats; `c` has leading dimension `ldc`. Only Relu and the clamp-based activations are done
        /// here, with integer min/max on the float bits (lane selects on `SIMD16` compile to
        /// mask-register round trips in this module); the others are left to the caller.
        @inline(never)
        public static func tile(_ ap: UnsafePointer<Float>, _ bp: UnsafePointer<Float>, k: Int, ldb: Int,
                                _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int, accumulate: Bool,
                                bias: UnsafePointer<Float>?, activation: Int32 = 0, alpha: Float = 0, beta: Float = 0) {
            var c00 = SIMD16<Float>(), c01 = SIMD16<Float>()
            var c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
            var c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
            var c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
            var c40 = SIMD16<Float>(), c41 = SIMD16<Float>()
            var c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
            let rb = UnsafeRawPointer(bp)
            var a = ap
            let rowBytes = ldb &* 4
            var kk = 0
            while kk < k {
                let b0 = rb.loadUnaligned(fromByteOffset: kk &* rowBytes, as: SIMD16<Float>.self)
                let b1 = rb.loadUnaligned(fromByteOffset: kk &* rowBytes &+ 64, as: SIMD16<Float>.self)
                var s = SIMD16<Float>(repeating: a[0])
                c00.addProduct(s, b0); c01.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[1])
                c10.addProduct(s, b0); c11.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[2])
                c20.addProduct(s, b0); c21.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[3])
                c30.addProduct(s, b0); c31.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[4])
                c40.addProduct(s, b0); c41.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[5])
                c50.addProduct(s, b0); c51.addProduct(s, b1)
                a += 6
                kk &+= 1
            }
            let acc = (c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51)
            finish(acc, c, ldc: ldc, rows: rows, cols: cols, accumulate: accumulate, bias: bias,
                   activation: activation, alpha: alpha, beta: beta)
        }

        /// Computes a 12×32 tile — two 6-row A panels against one B panel — as `tile` computes
        /// two 6×32 ones: 24 zmm accumulators, so each B load feeds 24 FMAs instead of 12.
        ///
        /// `ap2` is the second A panel (rows 6…11); `rows` counts both (7…12).
        @inline(never)
        public static func tile12(_ ap: UnsafePointer<Float>, _ ap2: UnsafePointer<Float>, _ bp: UnsafePointer<Float>, k: Int, ldb: Int,
                                  _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int, accumulate: Bool,
                                  bias: UnsafePointer<Float>?, activation: Int32 = 0, alpha: Float = 0, beta: Float = 0) {
            var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
            var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
            var c40 = SIMD16<Float>(), c41 = SIMD16<Float>(), c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
            var d00 = SIMD16<Float>(), d01 = SIMD16<Float>(), d10 = SIMD16<Float>(), d11 = SIMD16<Float>()
            var d20 = SIMD16<Float>(), d21 = SIMD16<Float>(), d30 = SIMD16<Float>(), d31 = SIMD16<Float>()
            var d40 = SIMD16<Float>(), d41 = SIMD16<Float>(), d50 = SIMD16<Float>(), d51 = SIMD16<Float>()
            let rb = UnsafeRawPointer(bp)
            var a = ap, e = ap2
            let rowBytes = ldb &* 4
            var kk = 0
            while kk < k {
                let b0 = rb.loadUnaligned(fromByteOffset: kk &* rowBytes, as: SIMD16<Float>.self)
                let b1 = rb.loadUnaligned(fromByteOffset: kk &* rowBytes &+ 64, as: SIMD16<Float>.self)
                var s = SIMD16<Float>(repeating: a[0])
                c00.addProduct(s, b0); c01.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[1])
                c10.addProduct(s, b0); c11.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[2])
                c20.addProduct(s, b0); c21.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[3])
                c30.addProduct(s, b0); c31.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[4])
                c40.addProduct(s, b0); c41.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[5])
                c50.addProduct(s, b0); c51.addProduct(s, b1)
                s = SIMD16<Float>(repeating: e[0])
                d00.addProduct(s, b0); d01.addProduct(s, b1)
                s = SIMD16<Float>(repeating: e[1])
                d10.addProduct(s, b0); d11.addProduct(s, b1)
                s = SIMD16<Float>(repeating: e[2])
                d20.addProduct(s, b0); d21.addProduct(s, b1)
                s = SIMD16<Float>(repeating: e[3])
                d30.addProduct(s, b0); d31.addProduct(s, b1)
                s = SIMD16<Float>(repeating: e[4])
                d40.addProduct(s, b0); d41.addProduct(s, b1)
                s = SIMD16<Float>(repeating: e[5])
                d50.addProduct(s, b0); d51.addProduct(s, b1)
                a += 6
                e += 6
                kk &+= 1
            }
            let first = (c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51)
            finish(first, c, ldc: ldc, rows: 6, cols: cols, accumulate: accumulate, bias: bias,
                   activation: activation, alpha: alpha, beta: beta)
            let second = (d00, d01, d10, d11, d20, d21, d30, d31, d40, d41, d50, d51)
            finish(second, c + 6 &* ldc, ldc: ldc, rows: rows &- 6, cols: cols, accumulate: accumulate, bias: bias.map { $0 + 6 },
                   activation: activation, alpha: alpha, beta: beta)
        }

        /// Computes a 7×32 tile for the small-output convolution (7 output positions × 32
        /// channels, 49 positions being seven such panels): C = Ap·Bp (plus C when `accumulate`),
        /// rows < `rows` stored, all 32 columns. No bias or activation (that path adds them when
        /// it transposes the result). Each output sums its products in the same order as `tile`.
        ///
        /// `ap` is a 7-row panel (k × 7 interleaved), `bp` a 32-wide panel with row stride `ldb`.
        @inline(never)
        public static func tile7(_ ap: UnsafePointer<Float>, _ bp: UnsafePointer<Float>, k: Int, ldb: Int,
                                 _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, accumulate: Bool) {
            var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
            var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
            var c40 = SIMD16<Float>(), c41 = SIMD16<Float>(), c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
            var c60 = SIMD16<Float>(), c61 = SIMD16<Float>()
            let rb = UnsafeRawPointer(bp)
            var a = ap
            let rowBytes = ldb &* 4
            var kk = 0
            while kk < k {
                let b0 = rb.loadUnaligned(fromByteOffset: kk &* rowBytes, as: SIMD16<Float>.self)
                let b1 = rb.loadUnaligned(fromByteOffset: kk &* rowBytes &+ 64, as: SIMD16<Float>.self)
                var s = SIMD16<Float>(repeating: a[0])
                c00.addProduct(s, b0); c01.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[1])
                c10.addProduct(s, b0); c11.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[2])
                c20.addProduct(s, b0); c21.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[3])
                c30.addProduct(s, b0); c31.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[4])
                c40.addProduct(s, b0); c41.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[5])
                c50.addProduct(s, b0); c51.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[6])
                c60.addProduct(s, b0); c61.addProduct(s, b1)
                a += 7
                kk &+= 1
            }
            @inline(__always) func put(_ r: Int, _ v0: SIMD16<Float>, _ v1: SIMD16<Float>) {
                guard r < rows else { return }
                let raw = UnsafeMutableRawPointer(c + r &* ldc)
                var v0 = v0, v1 = v1
                if accumulate {
                    v0 += raw.loadUnaligned(as: SIMD16<Float>.self)
                    v1 += raw.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
                }
                raw.storeBytes(of: v0, as: SIMD16<Float>.self)
                raw.storeBytes(of: v1, toByteOffset: 64, as: SIMD16<Float>.self)
            }
            put(0, c00, c01); put(1, c10, c11); put(2, c20, c21); put(3, c30, c31)
            put(4, c40, c41); put(5, c50, c51); put(6, c60, c61)
        }

        /// The 6×32 accumulators of a tile → C: plus C's own values when `accumulate`, plus
        /// `bias[row]`, the activation, and rows < `rows`, columns < `cols` stored.
        @inline(__always)
        static func finish(_ acc: (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>,
                                         SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>),
                           _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int, accumulate: Bool,
                           bias: UnsafePointer<Float>?, activation: Int32, alpha: Float, beta: Float) {
            var (c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51) = acc
            let full = rows == 6 && cols == 32
            if accumulate {
                if full {
                    @inline(__always) func ld(_ r: Int, _ h: Int) -> SIMD16<Float> {
                        UnsafeRawPointer(c + r &* ldc).loadUnaligned(fromByteOffset: h &* 64, as: SIMD16<Float>.self)
                    }
                    c00 += ld(0, 0); c01 += ld(0, 1); c10 += ld(1, 0); c11 += ld(1, 1)
                    c20 += ld(2, 0); c21 += ld(2, 1); c30 += ld(3, 0); c31 += ld(3, 1)
                    c40 += ld(4, 0); c41 += ld(4, 1); c50 += ld(5, 0); c51 += ld(5, 1)
                } else {
                    // A partial tile reads C's valid part through a zero-filled stack copy.
                    var t = (SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(),
                             SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>())
                    withUnsafeMutableBytes(of: &t) { raw in
                        let flat = raw.baseAddress!.assumingMemoryBound(to: Float.self)
                        for r in 0..<rows { (flat + r &* 32).update(from: c + r &* ldc, count: cols) }
                    }
                    c00 += t.0; c01 += t.1; c10 += t.2; c11 += t.3; c20 += t.4; c21 += t.5
                    c30 += t.6; c31 += t.7; c40 += t.8; c41 += t.9; c50 += t.10; c51 += t.11
                }
            }
            if let bias {
                @inline(__always) func bv(_ r: Int) -> SIMD16<Float> { SIMD16<Float>(repeating: r < rows ? bias[r] : 0) }
                var v = bv(0); c00 += v; c01 += v
                v = bv(1); c10 += v; c11 += v
                v = bv(2); c20 += v; c21 += v
                v = bv(3); c30 += v; c31 += v
                v = bv(4); c40 += v; c41 += v
                v = bv(5); c50 += v; c51 += v
            }
            if activation == hardSwish {
                @inline(__always) func f(_ v: SIMD16<Float>) -> SIMD16<Float> { v * unitClamp(v * (1 / 6) + 0.5) }
                c00 = f(c00); c01 = f(c01); c10 = f(c10); c11 = f(c11); c20 = f(c20); c21 = f(c21)
                c30 = f(c30); c31 = f(c31); c40 = f(c40); c41 = f(c41); c50 = f(c50); c51 = f(c51)
            } else if activation == relu {
                c00 = positivePart(c00); c01 = positivePart(c01); c10 = positivePart(c10); c11 = positivePart(c11)
                c20 = positivePart(c20); c21 = positivePart(c21); c30 = positivePart(c30); c31 = positivePart(c31)
                c40 = positivePart(c40); c41 = positivePart(c41); c50 = positivePart(c50); c51 = positivePart(c51)
            } else if activation == hardSigmoid {
                let a = alpha, b = beta
                @inline(__always) func f(_ v: SIMD16<Float>) -> SIMD16<Float> { unitClamp(a * v + b) }
                c00 = f(c00); c01 = f(c01); c10 = f(c10); c11 = f(c11); c20 = f(c20); c21 = f(c21)
                c30 = f(c30); c31 = f(c31); c40 = f(c40); c41 = f(c41); c50 = f(c50); c51 = f(c51)
            }
            @inline(__always) func st(_ r: Int, _ v0: SIMD16<Float>, _ v1: SIMD16<Float>) {
                let raw = UnsafeMutableRawPointer(c + r &* ldc)
                raw.storeBytes(of: v0, as: SIMD16<Float>.self)
                raw.storeBytes(of: v1, toByteOffset: 64, as: SIMD16<Float>.self)
            }
            if cols == 32 {
                // Whole rows: vector stores for the rows that exist.
                st(0, c00, c01)
                if rows > 1 { st(1, c10, c11) }
                if rows > 2 { st(2, c20, c21) }
                if rows > 3 { st(3, c30, c31) }
                if rows > 4 { st(4, c40, c41) }
                if rows > 5 { st(5, c50, c51) }
                return
            }
            // Partial rows: through a stack copy, `cols` floats per row.
            var tile = (c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51)
            withUnsafeBytes(of: &tile) { raw in
                let flat = raw.baseAddress!.assumingMemoryBound(to: Float.self)
                for r in 0..<rows { (c + r &* ldc).update(from: flat + r &* 32, count: cols) }
            }
                }

        /// Computes one 6×16 tile — the narrow last panel of a GEMM whose N leaves at most 16
        /// columns — the same way `tile` computes a 6×32 one (same product order, bias and
        /// activation), with one zmm accumulator per row.
        ///
        /// `bp` is a 16-wide B panel with row stride `ldb` floats. About half the cost of a 32-wide
        /// tile, where the 16-wide AVX2 kernel costs as much as one.
        @inline(never)
        public static func tile16(_ ap: UnsafePointer<Float>, _ bp: UnsafePointer<Float>, k: Int, ldb: Int,
                                  _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int, accumulate: Bool,
                                  bias: UnsafePointer<Float>?, activation: Int32 = 0, alpha: Float = 0, beta: Float = 0) {
            var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>()
            var c3 = SIMD16<Float>(), c4 = SIMD16<Float>(), c5 = SIMD16<Float>()
            let rb = UnsafeRawPointer(bp)
            var a = ap
            let rowBytes = ldb &* 4
            var kk = 0
            while kk < k {
                let b = rb.loadUnaligned(fromByteOffset: kk &* rowBytes, as: SIMD16<Float>.self)
                c0.addProduct(SIMD16<Float>(repeating: a[0]), b)
                c1.addProduct(SIMD16<Float>(repeating: a[1]), b)
                c2.addProduct(SIMD16<Float>(repeating: a[2]), b)
                c3.addProduct(SIMD16<Float>(repeating: a[3]), b)
                c4.addProduct(SIMD16<Float>(repeating: a[4]), b)
                c5.addProduct(SIMD16<Float>(repeating: a[5]), b)
                a += 6
                kk &+= 1
            }
            // The same epilogue as a 32-wide tile whose right half is unused (`cols` ≤ 16 is stored).
            let zero = SIMD16<Float>()
            finish((c0, zero, c1, zero, c2, zero, c3, zero, c4, zero, c5, zero), c, ldc: ldc, rows: rows, cols: cols,
                   accumulate: accumulate, bias: bias, activation: activation, alpha: alpha, beta: beta)
        }

        /// `rows`×`cols` outputs of one depthwise plane, y[r][q] = act(bias + Σ_t k[t] · in[r·wq + q +
        /// offset t]) (byte offsets from `base`, rows `wq` floats apart): the per-plane depthwise
        /// path's rows (`ReferenceKernels.depthwiseRows`) on 16-float vectors.
        ///
        /// Per row, 64 outputs at a time in four accumulators (also for over 32 left), then 32 and
        /// 16 as needed; a partial last vector is summed whole (its extra loads stay in the next
        /// row or the planes' slack) and only its valid lanes are stored. Each output is bias + its taps' products in kernel
        /// order, one fused multiply-add after another — the same bits as the AVX2 path.
        @inline(never)
        public static func depthwiseRows(_ base: UnsafeRawPointer, _ offs: UnsafePointer<Int>, taps: Int, _ k: UnsafePointer<Float>,
                                         bias: Float, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, wq: Int,
                                         activation: Int32, alpha: Float, beta: Float) {
            withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: taps) { wv in
                for t in 0..<taps { wv[t] = SIMD16<Float>(repeating: k[t]) }
                let w = UnsafePointer(wv.baseAddress!)
                let biasV = SIMD16<Float>(repeating: bias)
                @inline(__always) func act(_ v: SIMD16<Float>) -> SIMD16<Float> {
                    if activation == hardSwish { return v * unitClamp(v * (1 / 6) + 0.5) }
                    if activation == relu { return positivePart(v) }
                    if activation == hardSigmoid { return unitClamp(alpha * v + beta) }
                    return v
                }
                for r in 0..<rows {
                    let row = base + r &* wq &* 4
                    let out = y + r &* cols
                    let outRaw = UnsafeMutableRawPointer(out)
                    var q = 0
                    // A vector of outputs from q: whole, or its first cols − q lanes.
                    @inline(__always) func put(_ v: SIMD16<Float>, _ q: Int) {
                        if q &+ 16 <= cols {
                            outRaw.storeBytes(of: act(v), toByteOffset: q &* 4, as: SIMD16<Float>.self)
                        } else if q < cols {
                            let a = act(v)
                            for i in 0..<(cols &- q) { out[q &+ i] = a[i] }
                        }
                    }
                    // 64 outputs per pass (four chains keep the FMAs busy), one more such pass
                    // for over 32 left, then a 32-wide and a 16-wide pass as needed.
                    while cols &- q > 32 {
                        var a0 = biasV, a1 = biasV, a2 = biasV, a3 = biasV
                        let b = row + q &* 4
                        for t in 0..<taps {
                            let p = b + offs[t]
                            let wt = w[t]
                            a0.addProduct(wt, p.loadUnaligned(as: SIMD16<Float>.self))
                            a1.addProduct(wt, p.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self))
                            a2.addProduct(wt, p.loadUnaligned(fromByteOffset: 128, as: SIMD16<Float>.self))
                            a3.addProduct(wt, p.loadUnaligned(fromByteOffset: 192, as: SIMD16<Float>.self))
                        }
                        put(a0, q); put(a1, q &+ 16); put(a2, q &+ 32); put(a3, q &+ 48)
                        q &+= 64
                    }
                    if cols &- q > 16 {
                        var a0 = biasV, a1 = biasV
                        let b = row + q &* 4
                        for t in 0..<taps {
                            let p = b + offs[t]
                            a0.addProduct(w[t], p.loadUnaligned(as: SIMD16<Float>.self))
                            a1.addProduct(w[t], p.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self))
                        }
                        put(a0, q); put(a1, q &+ 16)
                        q &+= 32
                    }
                    if q < cols {
                        var a = biasV
                        let b = row + q &* 4
                        for t in 0..<taps { a.addProduct(w[t], (b + offs[t]).loadUnaligned(as: SIMD16<Float>.self)) }
                        put(a, q)
                    }
                }
            }
        }

        /// u > 0 ? u : +0 with NaN of either sign kept, as the vector Relu gives, on the bit patterns:
        /// a set sign bit clears the lane unless the pattern is a negative NaN (above 0xFF800000).
        @inline(__always)
        static func positivePart(_ u: SIMD16<Float>) -> SIMD16<Float> {
            let b = unsafeBitCast(u, to: SIMD16<Int32>.self)
            let negativeNaN = ~((b &+ 0x7F_FFFF) &>> 31)
            return unsafeBitCast(b & (~(b &>> 31) | negativeNaN), to: SIMD16<Float>.self)
        }

        /// max(0, min(1, u)) exactly as the scalar `max(0, min(1, u))` — NaN gives 1, -NaN gives 0
        /// (the product with x is NaN either way) — from integer min/max on the bit patterns:
        /// non-negative floats order like their bits, negative ones (sign bit set) clamp to +0.
        @inline(__always)
        static func unitClamp(_ u: SIMD16<Float>) -> SIMD16<Float> {
            let b = unsafeBitCast(u, to: SIMD16<Int32>.self)
            let m = b & ~(b &>> 31)
            let one = SIMD16<Int32>(repeating: 0x3F80_0000)
            let d = m &- one
            return unsafeBitCast(one &+ (d & (d &>> 31)), to: SIMD16<Float>.self)
        }
    }
#endif
