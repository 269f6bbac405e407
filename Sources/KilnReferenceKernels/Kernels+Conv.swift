import Foundation
import KilnCore
#if KILN_X86_KERNELS
    import KilnKernelsAVX512
#endif

/// Spatial geometry of a convolution or pooling window: output sizes and the padding actually used.
struct WindowGeometry: Sendable, Equatable {
    var input: [Int]
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    var padBegin: [Int]
    var padEnd: [Int]
    var output: [Int]

    /// Resolves ONNX's `auto_pad`/`pads`/`ceil_mode` rules for conv and pooling windows.
    init(node: RNode, input: [Int], kernel: [Int], ceilMode: Bool = false) throws {
        let r = input.count
        self.input = input
        self.kernel = kernel
        strides = node.ints("strides") ?? Array(repeating: 1, count: r)
        dilations = node.ints("dilations") ?? Array(repeating: 1, count: r)
        guard strides.count == r, dilations.count == r, kernel.count == r, strides.allSatisfy({ $0 > 0 }),
            dilations.allSatisfy({ $0 > 0 })
        else {
            throw InvalidModelError("\(node.label): strides/dilations/kernel_shape do not match \(r) spatial axes")
        }
        if let bad = kernel.first(where: { $0 <= 0 }) {
            throw ModelLimitError(node.label, "kernel \(kernel) has an axis of size \(bad)", fix: "give every kernel axis a size of at least 1")
        }
        let autoPad = node.string("auto_pad", "NOTSET")
        padBegin = Array(repeating: 0, count: r)
        padEnd = Array(repeating: 0, count: r)
        output = Array(repeating: 0, count: r)
        for a in 0..<r {
            let eff = (kernel[a] - 1) * dilations[a] + 1
            switch autoPad {
            case "SAME_UPPER", "SAME_LOWER":
                let out = (input[a] + strides[a] - 1) / strides[a]
                let total = max(0, (out - 1) * strides[a] + eff - input[a])
                if autoPad == "SAME_UPPER" {
                    padBegin[a] = total / 2
                    padEnd[a] = total - total / 2
                } else {
                    padEnd[a] = total / 2
                    padBegin[a] = total - total / 2
                }
                output[a] = out
            case "VALID":
                output[a] = ceilMode ? (input[a] - eff + strides[a]) / strides[a] : (input[a] - eff) / strides[a] + 1
            default:
                if let pads = node.ints("pads") {
                    guard pads.count == 2 * r else { throw InvalidModelError("\(node.label): pads has \(pads.count) values for \(r) axes") }
                    padBegin[a] = pads[a]
                    padEnd[a] = pads[a + r]
                    guard padBegin[a] >= 0, padEnd[a] >= 0, padBegin[a] <= 1 << 20, padEnd[a] <= 1 << 20 else {
                        throw ModelLimitError(node.label, "pads \(pads) are negative or absurdly large", fix: "use pads between 0 and the kernel size")
                    }
                }
                let span = input[a] + padBegin[a] + padEnd[a] - eff
                if ceilMode {
                    var out = (span + strides[a] - 1) / strides[a] + 1
                    if (out - 1) * strides[a] >= input[a] + padBegin[a] { out -= 1 }
                    output[a] = out
                } else {
                    output[a] = span >= 0 ? span / strides[a] + 1 : 0
                }
            }
            if output[a] <= 0 {
                throw ModelLimitError(node.label, "the window (kernel \(kernel), dilations \(dilations)) is larger than the padded input \(input) on axis \(a), so there is no output",
                                      fix: "use a kernel no larger than the padded input")
            }
        }
    }
}

/// A 2-D convolution plan: shapes, geometry and (packed) weights.
struct Conv2DPlan: Sendable {
    var inC: Int, outC: Int, group: Int
    var kh: Int, kw: Int, sh: Int, sw: Int, dh: Int, dw: Int
    var padT: Int, padL: Int
    var depthwise: Bool { group == inC && group == outC }
    var pointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && padT == 0 && padL == 0 }
    var kPerGroup: Int { inC / group * kh * kw }
    var mPerGroup: Int { outC / group }
    var packedGroupSize: Int { GEMM.packedASize(m: mPerGroup, k: kPerGroup) }

    /// Packs OIHW weights into per-group GEMM panels (depthwise weights stay as they are).
    func pack(_ w: [Float]) -> [Float] {
        if depthwise { return w }
        var out = [Float](repeating: 0, count: packedGroupSize * group)
        w.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for g in 0..<group {
                    GEMM.packA(src.baseAddress! + g * mPerGroup * kPerGroup, m: mPerGroup, k: kPerGroup, lda: kPerGroup,
                               into: dst.baseAddress! + g * packedGroupSize)
                }
            }
        }
        return out
    }
}

extension ReferenceKernels {
    /// Runs a 2-D convolution on NCHW input with weights packed by `plan.pack`.
    ///
    /// With `accumulate` (dense convolutions only) `out` holds values the convolution is added
    /// to before the activation (a fused residual Add). With `channelPanels` the weights are laid
    /// out by `Conv2DPlan.packChannelPanels` and `convSmallOutput` runs.
    static func conv2d(_ x: UnsafePointer<Float>, n: Int, h: Int, w: Int, plan: Conv2DPlan, oh: Int, ow: Int,
                       weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, activation: Activation,
                       out: UnsafeMutablePointer<Float>, accumulate: Bool = false, channelPanels: Bool = false, threads: Int) {
        let hw = h * w, ohw = oh * ow
        if channelPanels {
            // Weights packed by `packChannelPanels` (small output maps).
            for b in 0..<n {
                convSmallOutput(x + b * plan.inC * hw, h: h, w: w, plan: plan, oh: oh, ow: ow, weights: weights, bias: bias,
                                activation: activation, out: out + b * plan.outC * ohw, accumulate: accumulate, threads: threads)
            }
            return
        }
        if plan.depthwise && prefersBlockedDepthwise(plan: plan, h: h, w: w) {
            depthwiseBlocked(x, n: n, h: h, w: w, plan: plan, oh: oh, ow: ow, weights: weights, bias: bias, activation: activation,
                             out: out, threads: threads)
            return
        }
        if plan.depthwise {
            let planes = n * plan.inC
            let xp = SendablePointer(UnsafeMutablePointer(mutating: x)), op = SendablePointer(out)
            let wp = SendablePointer(UnsafeMutablePointer(mutating: weights))
            let bp = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
            let layout = PhaseLayout(plan: plan, h: h, w: w, oh: oh, ow: ow)
            parallelFor(planes, threads: threads) { range in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: layout.scratchFloats)
                defer { scratch.deallocate() }
                layout.fill(scratch, padding: 0)
                layout.offsets.withUnsafeBufferPointer { offsets in
                    for plane in range {
                        let c = plane % plan.inC
                        depthwisePlane(xp.p + plane * hw, layout, offsets.baseAddress!, wp.p + c * plan.kh * plan.kw, bias: bp?.p[c] ?? 0,
                                       activation: activation, op.p + plane * ohw, scratch: scratch)
                    }
                }
            }
            return
        }
        let cg = plan.inC / plan.group, mg = plan.mPerGroup, k = plan.kPerGroup
        for b in 0..<n {
            if !plan.pointwise {
                convPhased(x + b * plan.inC * hw, h: h, w: w, plan: plan, oh: oh, ow: ow, weights: weights, bias: bias,
                           activation: activation, out: out + b * plan.outC * ohw, accumulate: accumulate, threads: threads)
                continue
            }
            for g in 0..<plan.group {
                let xg = x + (b * plan.inC + g * cg) * hw
                let cOut = out + (b * plan.outC + g * mg) * ohw
                let bg = bias.map { $0 + g * mg }
                let packedA = weights + g * plan.packedGroupSize
                GEMM.run(m: mg, n: ohw, k: k, packedA: packedA, c: cOut, ldc: ohw, bias: bg, activation: activation,
                         accumulate: accumulate, threads: threads) { n0, k0, kb, panel, width in
                    GEMM.packBPanel(xg + k0 * hw, k: kb, n: ohw, ldb: hw, n0: n0, nr: width, into: panel)
                }
            }
        }
    }

    /// A k×k (or strided) convolution of one image as GEMMs over stride-phase planes.
    ///
    /// The zero-padded input is split into `sh`×`sw` phase planes (rows `a, a+sh, …`, columns
    /// `b, b+sw, …`), each `hq`×`wq`. Every tap then reads a phase plane at a fixed offset: output
    /// (oy, ox) of tap t is the float at `oy·wq + ox + offset(t)`, so the B rows of a panel of
    /// output positions are runs of contiguous floats, one run per output row the panel touches
    /// (`packPhaseRuns`). The GEMM writes `out` directly (no padded grid to compute and copy
    /// back); with `accumulate` it adds onto what `out` holds.
    static func convPhased(_ x: UnsafePointer<Float>, h: Int, w: Int, plan: Conv2DPlan, oh: Int, ow: Int,
                           weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, activation: Activation,
                           out: UnsafeMutablePointer<Float>, accumulate: Bool = false, threads: Int) {
        // With several threads each computes a band of output rows from phase planes it loads
        // itself: packing then reads rows in its own cache instead of channels another core just
        // wrote (6–15 % faster per layer at 2 threads than splitting the loads by channel and the
        // GEMM by column panel on deep K; on shallow K, where packing weighs more, YOLOX's 208×208
        // layers (12 and 24 channels) ran 1.3–1.4x faster at 2 threads than at 1 that way, 1.9x
        // in bands). Bands need at least 8 column panels each.
        var bands = threads > 1 ? threads : 1
        while bands > 1 && (oh < 2 * bands || oh * ow < 256 * bands) { bands -= 1 }
        // Large maps go in bands whose phase planes stay within `phaseBandBytes` (in L2 while
        // the band's panels are packed from them), each band still at least 16 column panels.
        let phaseBytes = plan.inC * (h + plan.kh) * (w + plan.kw) * 4
        let cacheBands = min(phaseBytes / phaseBandBytes + (phaseBytes % phaseBandBytes == 0 ? 0 : 1), oh * ow / 512, oh / 2)
        if bands <= 1 {
            if cacheBands <= 1 {
                convPhasedRows(x, h: h, w: w, plan: plan, oh: oh, ow: ow, rows: 0..<oh, weights: weights, bias: bias,
                               activation: activation, out: out, accumulate: accumulate, threads: threads)
                return
            }
            for band in 0..<cacheBands {
                convPhasedRows(x, h: h, w: w, plan: plan, oh: oh, ow: ow, rows: band * oh / cacheBands..<(band + 1) * oh / cacheBands,
                               weights: weights, bias: bias, activation: activation, out: out, accumulate: accumulate, threads: threads)
            }
            return
        }
        // Cache-sized bands are taken one at a time, in order, by whichever thread is free (a
        // thread the machine holds up takes fewer); else one band per thread.
        var perThread = 1
        if cacheBands > bands {
            perThread = (cacheBands + bands - 1) / bands
            bands *= perThread
        }
        let xp = SendablePointer(UnsafeMutablePointer(mutating: x)), op = SendablePointer(out)
        let wp = SendablePointer(UnsafeMutablePointer(mutating: weights))
        let bp = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        parallelFor(bands, threads: threads, chunksPerThread: perThread) { range in
            for band in range {
                convPhasedRows(xp.p, h: h, w: w, plan: plan, oh: oh, ow: ow, rows: band * oh / bands..<(band + 1) * oh / bands,
                               weights: wp.p, bias: bp.map { UnsafePointer($0.p) }, activation: activation, out: op.p,
                               accumulate: accumulate, threads: 1)
            }
        }
    }

    /// The most phase-plane bytes one band of `convPhased` loads, 512 KiB (YOLOX's 24-channel
    /// 208×208 stride-2 layer: 5.0 ms in one 4 MiB band, 3.7 ms in 512 KiB bands, on a 4 MiB L2):
    /// `KILN_CONV_BAND_KB` overrides it (to compare band sizes on a layer).
    static let phaseBandBytes: Int = {
        if let text = ProcessInfo.processInfo.environment["KILN_CONV_BAND_KB"], let kb = Int(text), kb > 0 { return kb << 10 }
        return 512 << 10
    }()

    /// Output rows `rows` of `convPhased`, from the input rows their windows cover.
    static func convPhasedRows(_ x: UnsafePointer<Float>, h: Int, w: Int, plan: Conv2DPlan, oh: Int, ow: Int, rows: Range<Int>,
                               weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, activation: Activation,
                               out: UnsafeMutablePointer<Float>, accumulate: Bool, threads: Int) {
        // The band's input rows: from its first window's top (or row 0) to its last window's bottom.
        let top = rows.lowerBound * plan.sh - plan.padT
        let first = max(0, top)
        let end = min(h, (rows.upperBound - 1) * plan.sh - plan.padT + (plan.kh - 1) * plan.dh + 1)
        var band = plan
        band.padT = first - top
        let bh = max(0, end - first)
        let layout = PhaseLayout(plan: band, h: bh, w: w, oh: rows.count, ow: ow)
        let wq = layout.wq
        let channelFloats = layout.planesFloats
        // Slack past the last plane for `packPhaseRuns`: a panel row reads up to 32 floats from
        // its first output's position, plus up to three gaps of `wq - ow` floats.
        let total = plan.inC * channelFloats + wq + 64 + 4 * (wq - ow)
        let phases = UnsafeMutablePointer<Float>.allocate(capacity: total)
        defer { phases.deallocate() }
        let xp = SendablePointer(UnsafeMutablePointer(mutating: x + first * w)), pp = SendablePointer(phases)
        parallelFor(plan.inC, threads: threads) { range in
            let start = pp.p + range.lowerBound * channelFloats
            start.initialize(repeating: 0, count: range.count * channelFloats + (range.upperBound == plan.inC ? total - plan.inC * channelFloats : 0))
            for c in range { layout.load(xp.p + c * h * w, into: pp.p + c * channelFloats) }
        }
        let cg = plan.inC / plan.group, mg = plan.mPerGroup, k = plan.kPerGroup
        let ohw = oh * ow, positions = rows.count * ow
        withUnsafeTemporaryAllocation(of: Int.self, capacity: k) { offsets in
            for g in 0..<plan.group {
                for cl in 0..<cg {
                    // Channel c's planes, then each tap's offset within them (the layout's are in bytes).
                    let base = (g * cg + cl) * channelFloats
                    for t in 0..<layout.taps { offsets[cl * layout.taps + t] = base + layout.offsets[t] / 4 }
                }
                let base = UnsafePointer(phases)
                let offs = UnsafePointer(offsets.baseAddress!)
                GEMM.run(m: mg, n: positions, k: k, packedA: weights + g * plan.packedGroupSize,
                         c: out + g * mg * ohw + rows.lowerBound * ow, ldc: ohw,
                         bias: bias.map { $0 + g * mg }, activation: activation, accumulate: accumulate,
                         threads: threads) { n0, k0, kb, panel, width in
                    packPhaseRuns(base, offs + k0, rows: kb, firstOutput: n0, outputs: positions, ow: ow, wq: wq, into: panel, width: width)
                }
            }
        }
    }

    /// Packs a B panel of `convPhased`: `rows` rows of `width` floats, row r holding outputs
    /// `firstOutput…` of the tap/channel whose phase-plane offset is `offsets[r]`.
    ///
    /// The panel's outputs form runs, one per output row they touch, and run i's floats sit
    /// `i · (wq − ow)` further on than a single contiguous run would put them (each output row
    /// skips the plane's `wq − ow` extra columns). So a panel row is up to four shifted 16-float
    /// loads blended lane by lane — a single load when the panel lies inside one output row, the
    /// common case on large maps. Panels touching more than four rows (maps under 11 columns wide)
    /// copy run by run in whole 16-float chunks, left to right, so a chunk that runs past its run
    /// is overwritten by the next run or the next row (or lands in `GEMM.panelSlack`).
    @inline(__always)
    static func packPhaseRuns(_ base: UnsafePointer<Float>, _ offsets: UnsafePointer<Int>, rows: Int, firstOutput n0: Int,
                              outputs: Int, ow: Int, wq: Int, into panel: UnsafeMutablePointer<Float>, width: Int) {
        let src = UnsafeRawPointer(base)
        let dst = UnsafeMutableRawPointer(panel)
        let cols = min(width, outputs - n0)
        let oy = n0 / ow, ox = n0 - oy * ow
        let start = (oy * wq + ox) * 4
        let rowBytes = width &* 4
        // Panel column where each later run starts (past `cols` when there is none).
        let run1 = ow - ox, gap = (wq - ow) * 4
        @inline(__always) func load(_ at: Int) -> SIMD16<Float> { src.loadUnaligned(fromByteOffset: at, as: SIMD16<Float>.self) }
        @inline(__always) func store(_ v: SIMD16<Float>, _ at: Int) { dst.storeBytes(of: v, toByteOffset: at, as: SIMD16<Float>.self) }
        if run1 >= cols {
            if width == 32 {
                for r in 0..<rows {
                    let at = start &+ offsets[r] &* 4
                    store(load(at), r &* 128)
                    store(load(at &+ 64), r &* 128 &+ 64)
                }
            } else {
                for r in 0..<rows { store(load(start &+ offsets[r] &* 4), r &* rowBytes) }
            }
            return
        }
        if run1 + ow >= cols {
            // Two runs: lanes from `run1` on come from the load one gap further.
            let lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
            let m0 = lane .>= Int32(run1), m1 = lane &+ 16 .>= Int32(run1)
            if width == 32 {
                for r in 0..<rows {
                    let at = start &+ offsets[r] &* 4
                    store(load(at).replacing(with: load(at &+ gap), where: m0), r &* 128)
                    store(load(at &+ 64).replacing(with: load(at &+ 64 &+ gap), where: m1), r &* 128 &+ 64)
                }
            } else {
                for r in 0..<rows {
                    let at = start &+ offsets[r] &* 4
                    store(load(at).replacing(with: load(at &+ gap), where: m0), r &* rowBytes)
                }
            }
            return
        }
        if run1 + 3 * ow >= cols {
            // Three or four runs: lanes of run i come from the load shifted by i gaps.
            let lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
            for h in 0..<width / 16 {
                let j = lane &+ Int32(h * 16)
                let m1 = j .>= Int32(run1), m2 = j .>= Int32(run1 + ow), m3 = j .>= Int32(run1 + 2 * ow)
                let four = run1 + 2 * ow < cols
                for r in 0..<rows {
                    let at = start &+ offsets[r] &* 4 &+ h &* 64
                    var v = load(at).replacing(with: load(at &+ gap), where: m1)
                    v.replace(with: load(at &+ 2 &* gap), where: m2)
                    if four { v.replace(with: load(at &+ 3 &* gap), where: m3) }
                    store(v, r &* rowBytes &+ h &* 64)
                }
            }
            return
        }
        // Runs: (source byte offset, panel byte offset, 16-float chunks).
        let most = cols / ow + 2
        withUnsafeTemporaryAllocation(of: (Int, Int, Int).self, capacity: most) { runs in
            var count = 0, j = 0, y = oy, x0 = ox
            while j < cols {
                let length = min(ow - x0, cols - j)
                runs[count] = ((y * wq + x0) * 4, j * 4, (length + 15) / 16)
                count += 1
                j += length
                y += 1
                x0 = 0
            }
            for r in 0..<rows {
                let s = src + offsets[r] &* 4
                let d = dst + r &* rowBytes
                for i in 0..<count {
                    let (from, to, chunks) = runs[i]
                    var c = 0
                    while c < chunks {
                        d.storeBytes(of: s.loadUnaligned(fromByteOffset: from &+ c &* 64, as: SIMD16<Float>.self), toByteOffset: to &+ c &* 64,
                                     as: SIMD16<Float>.self)
                        c &+= 1
                    }
                }
            }
        }
    }

    /// One channel of a depthwise convolution, bias and activation included.
    ///
    /// The zero-padded plane is split into `sh`×`sw` stride-phase planes (one plane at stride 1),
    /// as `convPhased` does for whole images: every tap is then a fixed offset into one phase
    /// plane, so each output row is a run of contiguous vector loads — 32 outputs at a time with
    /// four independent accumulators, no border cases, no lane shuffles — written straight into
    /// the output plane. `scratch` holds the phase planes, filled with zeros by `PhaseLayout.fill`.
    @inline(__always)
    static func depthwisePlane(_ x: UnsafePointer<Float>, _ layout: PhaseLayout, _ offsets: UnsafePointer<Int>,
                               _ k: UnsafePointer<Float>, bias: Float, activation: Activation, _ y: UnsafeMutablePointer<Float>,
                               scratch: UnsafeMutablePointer<Float>) {
        layout.load(x, into: scratch)
        let base = UnsafeRawPointer(scratch)
        let rows = layout.oh, cols = layout.ow, wq = layout.wq, taps = layout.taps
        #if KILN_X86_KERNELS
            if GEMM.useAVX512, let code = GEMM.tileActivation(activation) {
                GEMMTileAVX512.depthwiseRows(base, offsets, taps: taps, k, bias: bias, y, rows: rows, cols: cols, wq: wq,
                                             activation: code.code, alpha: code.alpha, beta: code.beta)
                return
            }
        #endif
        switch activation {
        case .none: depthwiseRows(base, offsets, taps, k, bias, y, rows, cols, wq, VectorActivations.Identity())
        case .relu: depthwiseRows(base, offsets, taps, k, bias, y, rows, cols, wq, VectorActivations.Relu())
        case .leakyRelu(let a): depthwiseRows(base, offsets, taps, k, bias, y, rows, cols, wq, VectorActivations.LeakyRelu(alpha: a))
        case .clip(let lo, let hi): depthwiseRows(base, offsets, taps, k, bias, y, rows, cols, wq, VectorActivations.Clip(lo: lo, hi: hi))
        case .hardSigmoid(let a, let b):
            depthwiseRows(base, offsets, taps, k, bias, y, rows, cols, wq, VectorActivations.HardSigmoid(alpha: a, beta: b))
        case .hardSwish: depthwiseRows(base, offsets, taps, k, bias, y, rows, cols, wq, VectorActivations.HardSwish())
        case .sigmoid, .swish:
            depthwiseRows(base, offsets, taps, k, bias, y, rows, cols, wq, VectorActivations.Identity())
            activation.apply(y, rows * cols)
        }
    }

    /// `rows`×`cols` outputs y[r][q] = act(bias + Σ_t k[t] · in[r·wq + q + offset t]) (byte offsets
    /// from `base`, whose rows are `wq` floats apart).
    ///
    /// Per row, 32 outputs at a time with four independent accumulators; more than 8 left take
    /// one more such pass, 8 or fewer one 8-wide pass. A partial pass is summed whole (its extra
    /// loads stay in the next row or the planes' slack) and only its valid lanes are stored.
    /// Specialised per activation, which runs on the registers before the store. Every output
    /// is bias + its taps' products in kernel order, one fused multiply-add after another, as in
    /// `GEMMTileAVX512.depthwiseRows` (the AVX-512 path gives the same bits).
    @inline(never)
    static func depthwiseRows<A: VectorActivation>(_ base: UnsafeRawPointer, _ offs: UnsafePointer<Int>, _ taps: Int,
                                                   _ k: UnsafePointer<Float>, _ bias: Float, _ y: UnsafeMutablePointer<Float>,
                                                   _ rows: Int, _ cols: Int, _ wq: Int, _ act: A) {
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: taps) { wv in
            for t in 0..<taps { wv[t] = SIMD8<Float>(repeating: k[t]) }
            let w = UnsafePointer(wv.baseAddress!)
            let biasV = SIMD8<Float>(repeating: bias)
            @inline(__always) func eight(_ b: UnsafeRawPointer) -> SIMD8<Float> {
                var a = biasV
                for t in 0..<taps { a.addProduct(w[t], (b + offs[t]).loadUnaligned(as: SIMD8<Float>.self)) }
                return act(a)
            }
            for r in 0..<rows {
                let row = base + r &* wq &* 4
                let out = y + r &* cols
                let outRaw = UnsafeMutableRawPointer(out)
                var q = 0
                while q &+ 32 <= cols {
                    var a0 = biasV, a1 = biasV, a2 = biasV, a3 = biasV
                    let b = row + q &* 4
                    var t = 0
                    while t < taps {
                        let p = b + offs[t]
                        let wt = w[t]
                        a0.addProduct(wt, p.loadUnaligned(as: SIMD8<Float>.self))
                        a1.addProduct(wt, p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self))
                        a2.addProduct(wt, p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self))
                        a3.addProduct(wt, p.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
                        t &+= 1
                    }
                    outRaw.storeBytes(of: act(a0), toByteOffset: q &* 4, as: SIMD8<Float>.self)
                    outRaw.storeBytes(of: act(a1), toByteOffset: q &* 4 &+ 32, as: SIMD8<Float>.self)
                    outRaw.storeBytes(of: act(a2), toByteOffset: q &* 4 &+ 64, as: SIMD8<Float>.self)
                    outRaw.storeBytes(of: act(a3), toByteOffset: q &* 4 &+ 96, as: SIMD8<Float>.self)
                    q &+= 32
                }
                if cols &- q > 8 {
                    // 9 to 31 left: one more 32-wide pass (four chains keep the FMAs busy); its
                    // extra lanes read the next row or the slack and are not stored.
                    var a = (biasV, biasV, biasV, biasV)
                    let b = row + q &* 4
                    var t = 0
                    while t < taps {
                        let p = b + offs[t]
                        let wt = w[t]
                        a.0.addProduct(wt, p.loadUnaligned(as: SIMD8<Float>.self))
                        a.1.addProduct(wt, p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self))
                        a.2.addProduct(wt, p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self))
                        a.3.addProduct(wt, p.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
                        t &+= 1
                    }
                    @inline(__always) func put(_ v: SIMD8<Float>) {
                        if q &+ 8 <= cols {
                            outRaw.storeBytes(of: v, toByteOffset: q &* 4, as: SIMD8<Float>.self)
                        } else if q < cols {
                            for i in 0..<(cols &- q) { out[q &+ i] = v[i] }
                        }
                        q &+= 8
                    }
                    put(act(a.0)); put(act(a.1)); put(act(a.2)); put(act(a.3))
                    q = cols
                }
                if q < cols {
                    let v = eight(row + q &* 4)
                    for i in 0..<(cols &- q) { out[q &+ i] = v[i] }
                }
            }
        }
    }

    /// Conv and the backend's fused KilnConv: 1-D and 2-D through the packed kernels, N-D directly.
    static func conv(_ node: RNode, _ inputs: [RTensor?], threads: Int) throws -> RTensor {
        let x = try required(inputs, 0, node)
        let wt = try required(inputs, 1, node)
        let bias = inputs.count > 2 ? inputs[2] : nil
        guard x.isFloat, wt.isFloat else { throw InvalidModelError("\(node.label): Conv needs float tensors") }
        let packing = node.fusion.packedWeights
        let wShape = packing?.shape ?? wt.shape
        guard x.rank >= 3, wShape.count == x.rank else {
            throw InvalidModelError("\(node.label): input rank \(x.rank) and weight rank \(wShape.count) do not fit a convolution")
        }
        let group = node.int("group", 1)
        let spatial = Array(x.shape[2...])
        let kernel = node.ints("kernel_shape") ?? Array(wShape[2...])
        let geo = try WindowGeometry(node: node, input: spatial, kernel: kernel)
        let n = x.shape[0], c = x.shape[1], m = wShape[0]
        guard group > 0, c % group == 0, m % group == 0, wShape[1] * group == c else {
            throw InvalidModelError("\(node.label): \(c) input channels, weight \(wShape), group \(group) do not fit")
        }
        let act = node.fusion.activation
        let outShape = [n, m] + geo.output
        // A fused residual Add (ReferenceOptimizer.fuseResidualAdds): summed before the activation.
        let residual = inputs.count > 3 ? inputs[3] : nil
        if let residual, !residual.isFloat || residual.shape != outShape {
            throw InvalidModelError("\(node.label): residual input of shape \(residual.shape) does not match the output \(outShape)")
        }
        if spatial.count > 2 || (residual != nil && group > 1 && group == c && group == m) {
            // N-D, or a depthwise convolution with a residual: convolve, then add and activate.
            var plain = node
            plain.fusion.activation = .none
            var y = spatial.count > 2 ? try convND(x, wt, bias, geo: geo, group: group, node: node) : try conv(plain, Array(inputs.prefix(3)), threads: threads)
            if let residual { y.f = zip(y.f, residual.f).map { $0 + $1 } }
            y.f.withUnsafeMutableBufferPointer { act.apply($0.baseAddress!, $0.count) }
            return y
        }
        let two = spatial.count == 2
        let plan = Conv2DPlan(inC: c, outC: m, group: group, kh: two ? kernel[0] : 1, kw: kernel[two ? 1 : 0],
                              sh: two ? geo.strides[0] : 1, sw: geo.strides[two ? 1 : 0],
                              dh: two ? geo.dilations[0] : 1, dw: geo.dilations[two ? 1 : 0],
                              padT: two ? geo.padBegin[0] : 0, padL: geo.padBegin[two ? 1 : 0])
        let weights = packing != nil ? wt.f : plan.pack(wt.f)
        let channelPanels = packing?.layout == .channelPanels && group == 1 && !plan.depthwise
        let expected = plan.depthwise ? m * kernel.reduce(1, *)
            : channelPanels ? (m + Conv2DPlan.channelPanel - 1) / Conv2DPlan.channelPanel * Conv2DPlan.channelPanel * plan.kPerGroup
            : plan.packedGroupSize * group
        guard weights.count == expected, packing?.layout != .channelPanels || channelPanels else {
            throw InvalidModelError("\(node.label): weight data does not match its shape \(wShape)")
        }
        let h = two ? spatial[0] : 1, w = spatial[two ? 1 : 0]
        let oh = two ? geo.output[0] : 1, ow = geo.output[two ? 1 : 0]
        let outCount = outShape.reduce(1, *)
        if outCount == 0 { return RTensor(outShape, floats: [], type: x.type) }
        // Every element is written by the kernels, so the buffer starts uninitialised (or as the
        // residual the convolution is added to).
        var out = residual?.f ?? [Float](unsafeUninitializedCapacity: outCount) { _, n in n = outCount }
        let accumulate = residual != nil
        let b = bias?.floats
        x.f.withUnsafeBufferPointer { xp in
            weights.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    if let b {
                        b.withUnsafeBufferPointer { bp in
                            conv2d(xp.baseAddress!, n: n, h: h, w: w, plan: plan, oh: oh, ow: ow, weights: wp.baseAddress!,
                                   bias: bp.baseAddress!, activation: act, out: op.baseAddress!, accumulate: accumulate,
                                   channelPanels: channelPanels, threads: threads)
                        }
                    } else {
                        conv2d(xp.baseAddress!, n: n, h: h, w: w, plan: plan, oh: oh, ow: ow, weights: wp.baseAddress!,
                               bias: nil, activation: act, out: op.baseAddress!, accumulate: accumulate,
                               channelPanels: channelPanels, threads: threads)
                    }
                }
            }
        }
        return RTensor(outShape, floats: out, type: x.type)
    }

    /// Direct N-D convolution (3-D and up), used where no packed kernel applies.
    static func convND(_ x: RTensor, _ w: RTensor, _ bias: RTensor?, geo: WindowGeometry, group: Int, node: RNode) throws -> RTensor {
        let n = x.shape[0], c = x.shape[1], m = w.shape[0]
        let cg = c / group, mg = m / group
        let r = geo.input.count
        let inSize = geo.input.reduce(1, *), outSize = geo.output.reduce(1, *), kSize = geo.kernel.reduce(1, *)
        var y = [Float](repeating: 0, count: n * m * outSize)
        let outIdx = multiIndices(geo.output), kIdx = multiIndices(geo.kernel)
        let inStrides = stridesOf(geo.input)
        for b in 0..<n {
            for oc in 0..<m {
                let g = oc / mg
                let bv = bias?.floats[oc] ?? 0
                for o in 0..<outSize {
                    var acc: Float = bv
                    for ic in 0..<cg {
                        let xBase = (b * c + g * cg + ic) * inSize
                        let wBase = (oc * cg + ic) * kSize
                        for kk in 0..<kSize {
                            var off = 0
                            var inside = true
                            for a in 0..<r {
                                let p = outIdx[o][a] * geo.strides[a] - geo.padBegin[a] + kIdx[kk][a] * geo.dilations[a]
                                if p < 0 || p >= geo.input[a] { inside = false; break }
                                off += p * inStrides[a]
                            }
                            if inside { acc += x.f[xBase + off] * w.f[wBase + kk] }
                        }
                    }
                    y[(b * m + oc) * outSize + o] = acc
                }
            }
        }
        return RTensor([n, m] + geo.output, floats: y, type: x.type)
    }

    /// Advances the row-major multi-index `idx` of `shape` by one element (the last axis fastest);
    /// after the last element it wraps to all zeros.
    @inline(__always)
    static func advance(_ idx: inout [Int], within shape: [Int]) {
        var a = shape.count - 1
        while a >= 0 {
            idx[a] += 1
            if idx[a] < shape[a] { return }
            idx[a] = 0
            a -= 1
        }
    }

    /// Steps `idx` to the next multi-index of `shape` counting from axis `last` down (row-major),
    /// moving `offset` along by `strides`: the odometer of every strided walk over a tensor.
    @inline(__always)
    static func advance(_ idx: inout [Int], within shape: [Int], from last: Int, offset: inout Int, strides: [Int]) {
        var a = last
        while a >= 0 {
            idx[a] += 1
            offset += strides[a]
            if idx[a] < shape[a] { return }
            offset -= strides[a] * shape[a]
            idx[a] = 0
            a -= 1
        }
    }

    /// All multi-indices of `shape` in row-major order.
    static func multiIndices(_ shape: [Int]) -> [[Int]] {
        let total = shape.reduce(1, *)
        var result: [[Int]] = []
        result.reserveCapacity(total)
        var idx = [Int](repeating: 0, count: shape.count)
        for _ in 0..<total {
            result.append(idx)
            advance(&idx, within: shape)
        }
        return result
    }

    /// Row-major element strides of `shape`.
    static func stridesOf(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for a in stride(from: shape.count - 1, through: 0, by: -1) {
            s[a] = acc
            acc *= shape[a]
        }
        return s
    }
}

/// Copies `n` floats 8 at a time, inline (for the short rows of small planes).
@inline(__always)
func copyFloats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
    var i = 0
    while i &+ 8 <= n {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self), toByteOffset: i &* 4, as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < n {
        dst[i] = src[i]
        i &+= 1
    }
}

/// dst[q] = src[2q] for q < n, 8 at a time: two 8-float loads, their even lanes.
@inline(__always)
func gatherEven(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    var q = 0
    let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
    // Reads up to src[2q + 15] only while that stays below src[2n - 1].
    while q &+ 8 <= n && 2 &* q &+ 16 <= 2 &* n &- 1 {
        let lo = s.loadUnaligned(fromByteOffset: 2 &* q &* 4, as: SIMD8<Float>.self)
        let hi = s.loadUnaligned(fromByteOffset: (2 &* q &+ 8) &* 4, as: SIMD8<Float>.self)
        d.storeBytes(of: SIMD8(lo[0], lo[2], lo[4], lo[6], hi[0], hi[2], hi[4], hi[6]), toByteOffset: q &* 4, as: SIMD8<Float>.self)
        q &+= 8
    }
    while q < n {
        dst[q] = src[2 &* q]
        q &+= 1
    }
}

/// The stride-phase layout of one padded input plane, computed once per call (depthwise and k×k
/// convolutions, max pooling).
///
/// Each channel's padded input is split into `sh`×`sw` stride-phase planes of `hq`×`wq`
/// (`copies` say which input rows and columns land where), tap `t` reads its phase plane at byte
/// offset `offsets[t]`, and the output is computed on a wide grid of `oh`×`wq`.
struct PhaseLayout: Sendable {
    /// One run of input rows copied into a phase plane: `rows` rows of `count` floats taken every
    /// `stride` columns.
    struct Copy: Sendable {
        /// First destination float (in the scratch) and first source float (in the input plane).
        var dst: Int, src: Int
        /// Rows copied, floats per row, and the source column step (1, or the stride).
        var rows: Int, count: Int, stride: Int
        /// Floats between consecutive rows in the scratch and in the input.
        var dstRowStride: Int, srcRowStride: Int
    }

    /// Output rows and columns, and the phase planes' rows and columns.
    var oh: Int, ow: Int, hq: Int, wq: Int
    /// Window taps (kh × kw).
    var taps: Int
    /// Floats of all phase planes, and the zeroed (or −∞) slack after them.
    var planesFloats: Int, slack: Int
    /// Byte offset of each tap into the phase planes.
    var offsets: [Int]
    /// How the input plane is copied into the phase planes.
    var copies: [Copy]

    /// Floats one worker's scratch holds: the phase planes, their slack and the wide output
    /// (rounded up to whole 8-float chunks, plus one).
    var scratchFloats: Int { planesFloats + slack + (oh * wq + 7) / 8 * 8 + 8 }

    /// Fills `scratch`'s phase planes and the slack after them with `padding`.
    ///
    /// `load` writes only the positions that hold input, never the padding, so a scratch buffer
    /// reused for plane after plane of the same layout is filled once.
    func fill(_ scratch: UnsafeMutablePointer<Float>, padding: Float) {
        scratch.initialize(repeating: padding, count: planesFloats + slack)
    }

    /// Copies the input plane `x` into the phase planes of `scratch` (filled by `fill` before).
    @inline(__always)
    func load(_ x: UnsafePointer<Float>, into scratch: UnsafeMutablePointer<Float>) {
        for copy in copies {
            var dst = scratch + copy.dst, src = x + copy.src
            for _ in 0..<copy.rows {
                if copy.stride == 1 {
                    copyFloats(dst, src, copy.count)
                } else if copy.stride == 2 {
                    gatherEven(dst, src, copy.count)
                } else {
                    for q in 0..<copy.count { dst[q] = src[q &* copy.stride] }
                }
                dst += copy.dstRowStride
                src += copy.srcRowStride
            }
        }
    }

    /// Copies the wide output's `oh` rows (`wq` apart) into the dense `oh`×`ow` plane `y`.
    @inline(__always)
    func store(_ out: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>) {
        if wq == ow {
            copyFloats(y, out, oh &* wq)
        } else {
            for oy in 0..<oh { copyFloats(y + oy &* ow, out + oy &* wq, ow) }
        }
    }

    /// Lays out a window operation (`plan`'s kernel, strides, dilations, padding) of an `h`×`w`
    /// plane into `oh`×`ow`.
    init(plan: Conv2DPlan, h: Int, w: Int, oh: Int, ow: Int) {
        let sh = plan.sh, sw = plan.sw
        self.oh = oh
        self.ow = ow
        hq = oh - 1 + (plan.kh - 1) * plan.dh / sh + 1
        wq = ow - 1 + (plan.kw - 1) * plan.dw / sw + 1
        taps = plan.kh * plan.kw
        let planeSize = hq * wq
        planesFloats = sh * sw * planeSize
        slack = 48 + (plan.kw - 1) * plan.dw
        offsets = []
        for ky in 0..<plan.kh {
            for kx in 0..<plan.kw {
                let ty = ky * plan.dh, tx = kx * plan.dw
                offsets.append((((ty % sh) * sw + tx % sw) * planeSize + ty / sh * wq + tx / sw) * 4)
            }
        }
        copies = []
        for a in 0..<sh {
            for b in 0..<sw {
                // Columns q with 0 <= q*sw + b - padL < w, rows r with 0 <= r*sh + a - padT < h.
                let first = min(wq, max(0, (plan.padL - b + sw - 1) / sw))
                let end = min(wq, max(first, (w + plan.padL - b + sw - 1) / sw))
                let r0 = min(hq, max(0, (plan.padT - a + sh - 1) / sh))
                let r1 = min(hq, max(r0, (h + plan.padT - a + sh - 1) / sh))
                if first >= end || r0 >= r1 { continue }
                copies.append(Copy(dst: (a * sw + b) * planeSize + r0 * wq + first,
                                   src: (r0 * sh + a - plan.padT) * w + (first * sw + b - plan.padL),
                                   rows: r1 - r0, count: end - first, stride: sw, dstRowStride: wq, srcRowStride: sh * w))
            }
        }
    }
}
