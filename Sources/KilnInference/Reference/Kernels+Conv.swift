import KilnCore

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
            if output[a] < 0 { output[a] = 0 }
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
    static func conv2d(_ x: UnsafePointer<Float>, n: Int, h: Int, w: Int, plan: Conv2DPlan, oh: Int, ow: Int,
                       weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, activation: Activation,
                       out: UnsafeMutablePointer<Float>, threads: Int) {
        let hw = h * w, ohw = oh * ow
        if plan.depthwise {
            let planes = n * plan.inC
            let xp = SendablePointer(UnsafeMutablePointer(mutating: x)), op = SendablePointer(out)
            let wp = SendablePointer(UnsafeMutablePointer(mutating: weights))
            let bp = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
            let scratchSize = depthwiseScratchSize(plan: plan, oh: oh, ow: ow)
            parallelFor(planes, threads: threads) { range in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchSize)
                defer { scratch.deallocate() }
                for plane in range {
                    let c = plane % plan.inC
                    depthwisePlane(xp.p + plane * hw, h: h, w: w, wp.p + c * plan.kh * plan.kw, bias: bp?.p[c] ?? 0,
                                   plan: plan, activation: activation, op.p + plane * ohw, oh: oh, ow: ow, scratch: scratch)
                }
            }
            return
        }
        let cg = plan.inC / plan.group, mg = plan.mPerGroup, k = plan.kPerGroup
        for b in 0..<n {
            if !plan.pointwise {
                convPhased(x + b * plan.inC * hw, h: h, w: w, plan: plan, oh: oh, ow: ow, weights: weights, bias: bias,
                           activation: activation, out: out + b * plan.outC * ohw, threads: threads)
                continue
            }
            for g in 0..<plan.group {
                let xg = x + (b * plan.inC + g * cg) * hw
                let cOut = out + (b * plan.outC + g * mg) * ohw
                let bg = bias.map { $0 + g * mg }
                let packedA = weights + g * plan.packedGroupSize
                GEMM.run(m: mg, n: ohw, k: k, packedA: packedA, c: cOut, ldc: ohw, bias: bg, activation: activation,
                         threads: threads) { n0, panel, width in
                    GEMM.packBPanel(xg, k: k, n: ohw, ldb: hw, n0: n0, nr: width, into: panel)
                }
            }
        }
    }

    /// A k×k (or strided) convolution of one image as GEMMs over stride-phase planes.
    ///
    /// The zero-padded input is split into `sh`×`sw` phase planes (rows `a, a+sh, …`, columns
    /// `b, b+sw, …`), each `hq`×`wq`. Every tap then reads a phase plane at a fixed offset, so the
    /// output — computed on a "wide" grid of `oh`×`wq` positions — has contiguous B rows for every
    /// tap: packing a B panel is one 16-float copy per row, with no bounds checks. The `wq - ow`
    /// extra columns per row are computed and dropped.
    static func convPhased(_ x: UnsafePointer<Float>, h: Int, w: Int, plan: Conv2DPlan, oh: Int, ow: Int,
                           weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, activation: Activation,
                           out: UnsafeMutablePointer<Float>, threads: Int) {
        let sh = plan.sh, sw = plan.sw
        let hq = oh - 1 + (plan.kh - 1) * plan.dh / sh + 1
        let wq = ow - 1 + (plan.kw - 1) * plan.dw / sw + 1
        let phasePlane = hq * wq
        let channelFloats = sh * sw * phasePlane
        // Slack past the last plane: the last B panel may read up to its width (≤ 32) + kw columns beyond.
        let total = plan.inC * channelFloats + wq + 64
        let phases = UnsafeMutablePointer<Float>.allocate(capacity: total)
        defer { phases.deallocate() }
        (phases + plan.inC * channelFloats).initialize(repeating: 0, count: total - plan.inC * channelFloats)
        let xp = SendablePointer(UnsafeMutablePointer(mutating: x)), pp = SendablePointer(phases)
        parallelFor(plan.inC * sh * sw, threads: threads, minChunk: 4) { range in
            for idx in range {
                let c = idx / (sh * sw), a = idx / sw % sh, bq = idx % sw
                let src = xp.p + c * h * w
                let dst = pp.p + idx * phasePlane
                for r in 0..<hq {
                    let row = dst + r * wq
                    let iy = r * sh + a - plan.padT
                    if iy < 0 || iy >= h {
                        row.initialize(repeating: 0, count: wq)
                        continue
                    }
                    let line = src + iy * w
                    // Columns q with 0 <= q*sw + bq - padL < w.
                    let first = min(wq, max(0, (plan.padL - bq + sw - 1) / sw))
                    let end = min(wq, max(first, (w + plan.padL - bq + sw - 1) / sw))
                    if first > 0 { row.initialize(repeating: 0, count: first) }
                    if sw == 1 {
                        (row + first).update(from: line + (first + bq - plan.padL), count: end - first)
                    } else {
                        for q in first..<end { row[q] = line[q * sw + bq - plan.padL] }
                    }
                    if end < wq { (row + end).initialize(repeating: 0, count: wq - end) }
                }
            }
        }
        let cg = plan.inC / plan.group, mg = plan.mPerGroup, k = plan.kPerGroup
        let wide = oh * wq
        let direct = wq == ow
        let target = direct ? out : UnsafeMutablePointer<Float>.allocate(capacity: plan.outC * wide)
        defer { if !direct { target.deallocate() } }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: k) { offsets in
            for g in 0..<plan.group {
                for cl in 0..<cg {
                    let c = g * cg + cl
                    for ky in 0..<plan.kh {
                        let ty = ky * plan.dh
                        for kx in 0..<plan.kw {
                            let tx = kx * plan.dw
                            offsets[(cl * plan.kh + ky) * plan.kw + kx] =
                                ((c * sh + ty % sh) * sw + tx % sw) * phasePlane + ty / sh * wq + tx / sw
                        }
                    }
                }
                let base = UnsafePointer(phases)
                let offs = UnsafePointer(offsets.baseAddress!)
                GEMM.run(m: mg, n: wide, k: k, packedA: weights + g * plan.packedGroupSize, c: target + g * mg * wide, ldc: wide,
                         bias: bias.map { $0 + g * mg }, activation: activation, threads: threads) { n0, panel, width in
                    let src = UnsafeRawPointer(base + n0)
                    let dst = UnsafeMutableRawPointer(panel)
                    if width == 32 {
                        for kk in 0..<k {
                            let at = offs[kk] &* 4
                            dst.storeBytes(of: src.loadUnaligned(fromByteOffset: at, as: SIMD16<Float>.self), toByteOffset: kk &* 128, as: SIMD16<Float>.self)
                            dst.storeBytes(of: src.loadUnaligned(fromByteOffset: at &+ 64, as: SIMD16<Float>.self), toByteOffset: kk &* 128 &+ 64, as: SIMD16<Float>.self)
                        }
                    } else {
                        for kk in 0..<k {
                            let v = src.loadUnaligned(fromByteOffset: offs[kk] &* 4, as: SIMD16<Float>.self)
                            dst.storeBytes(of: v, toByteOffset: kk &* 64, as: SIMD16<Float>.self)
                        }
                    }
                }
            }
        }
        if !direct {
            for row in 0..<plan.outC * oh {
                (out + row * ow).update(from: target + row * wq, count: ow)
            }
        }
    }

    /// Scratch floats one depthwise worker needs: the zero-padded plane with its slack, and the
    /// output buffer (the whole wide plane at stride 1, one row otherwise).
    static func depthwiseScratchSize(plan: Conv2DPlan, oh: Int, ow: Int) -> Int {
        let g = depthwiseGeometry(plan: plan, oh: oh, ow: ow)
        return g.rows * g.cols + g.slack + g.outFloats
    }

    /// The padded plane's rows and columns, the zeroed slack after it (vector loads of the last
    /// chunk may reach past the plane), the output row width rounded up to 8, and the output
    /// buffer's size. At stride 1 the plane's columns are exactly the padded input's, and the
    /// output is computed on that "wide" grid (`oh`×`cols`, the extra columns dropped).
    static func depthwiseGeometry(plan: Conv2DPlan, oh: Int, ow: Int)
        -> (rows: Int, cols: Int, slack: Int, owPadded: Int, wide: Bool, outFloats: Int)
    {
        let rows = (oh - 1) * plan.sh + (plan.kh - 1) * plan.dh + 1
        let owPadded = (ow + 7) / 8 * 8
        let slack = 16 + (plan.kw - 1) * plan.dw
        if plan.sw == 1 && plan.sh == 1 {
            let cols = max(ow + (plan.kw - 1) * plan.dw, plan.padL + 1)
            return (rows, cols, slack, owPadded, true, (oh * cols + 7) / 8 * 8 + 8)
        }
        let cols = (owPadded - 1) * plan.sw + (plan.kw - 1) * plan.dw + 1 + (plan.sw == 2 ? 1 : 0)
        return (rows, max(cols, plan.padL + 1), slack, owPadded, false, owPadded)
    }

    /// One channel of a depthwise convolution, bias and activation included.
    ///
    /// The plane is copied once into a zero-padded scratch so every tap of every output is an
    /// in-bounds vector load. At stride 1 the whole plane is one long row (the "wide" grid: each
    /// tap is a fixed offset into the padded plane), computed 32 outputs at a time with four
    /// independent accumulators; stride 2 goes row by row, loading 16 columns and keeping the even ones.
    @inline(__always)
    static func depthwisePlane(_ x: UnsafePointer<Float>, h: Int, w: Int, _ k: UnsafePointer<Float>, bias: Float,
                               plan: Conv2DPlan, activation: Activation, _ y: UnsafeMutablePointer<Float>, oh: Int, ow: Int,
                               scratch: UnsafeMutablePointer<Float>) {
        let (rows, cols, slack, owPadded, wide, _) = depthwiseGeometry(plan: plan, oh: oh, ow: ow)
        let padded = scratch
        // One fill of zeros (borders and slack), then the input rows copied into place inline:
        // the planes here are small, and a call per 14-float row cost more than the copy.
        padded.initialize(repeating: 0, count: rows * cols + slack)
        let lead = min(max(0, plan.padL), cols), skip = max(0, -plan.padL)
        let n = max(0, min(w - skip, cols - lead))
        let r0 = max(0, plan.padT), r1 = min(rows, h + plan.padT)
        if n > 0 && r0 < r1 {
            for r in r0..<r1 {
                copyFloats(padded + r * cols + lead, x + (r - plan.padT) * w + skip, n)
            }
        }
        let rowBuf = scratch + rows * cols + slack
        if wide {
            let n = oh * cols
            let out = rowBuf + 8
            depthwiseRows(Stride1Columns.self, padded, cols: cols, k, bias, plan, activation, out, 1, n, (n + 7) / 8 * 8, rowBuf)
            for oy in 0..<oh { copyFloats(y + oy * ow, out + oy * cols, ow) }
            return
        }
        if plan.sw == 1 || plan.sw == 2 {
            if plan.sw == 1 {
                depthwiseRows(Stride1Columns.self, padded, cols: cols, k, bias, plan, activation, y, oh, ow, owPadded, rowBuf)
            } else {
                depthwiseRows(Stride2Columns.self, padded, cols: cols, k, bias, plan, activation, y, oh, ow, owPadded, rowBuf)
            }
            return
        }
        let kw = plan.kw, kh = plan.kh, dw = plan.dw, sw = plan.sw
        for oy in 0..<oh {
            rowBuf.initialize(repeating: bias, count: owPadded)
            for ky in 0..<kh {
                let src = padded + (oy * plan.sh + ky * plan.dh) * cols
                for ox in 0..<ow {
                    var acc: Float = 0
                    for kx in 0..<kw { acc += k[ky * kw + kx] * src[ox * sw + kx * dw] }
                    rowBuf[ox] += acc
                }
            }
            activation.apply(rowBuf, ow)
            (y + oy * ow).update(from: rowBuf, count: ow)
        }
    }

    /// The vector body of `depthwisePlane`, specialised for stride 1 or 2 through `L`.
    @inline(never)
    static func depthwiseRows<L: DepthwiseColumns>(_ columns: L.Type, _ padded: UnsafeMutablePointer<Float>, cols: Int,
                                                    _ k: UnsafePointer<Float>, _ bias: Float, _ plan: Conv2DPlan,
                                                    _ activation: Activation, _ y: UnsafeMutablePointer<Float>, _ oh: Int,
                                                    _ ow: Int, _ owPadded: Int, _ rowBuf: UnsafeMutablePointer<Float>) {
        let kh = plan.kh, kw = plan.kw
        let nTaps = kh * kw
        let sw = L.stride
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: nTaps) { wv in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: nTaps) { offsets in
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        wv[ky * kw + kx] = SIMD8<Float>(repeating: k[ky * kw + kx])
                        offsets[ky * kw + kx] = (ky * plan.dh * cols + kx * plan.dw) * 4
                    }
                }
                let w = UnsafePointer(wv.baseAddress!), offs = UnsafePointer(offsets.baseAddress!)
                let biasV = SIMD8<Float>(repeating: bias)
                let step = 32 &* sw
                for oy in 0..<oh {
                    let rowBase = UnsafeRawPointer(padded + oy * plan.sh * cols)
                    let out = y + oy * ow
                    let outRaw = UnsafeMutableRawPointer(out)
                    var ox = 0
                    // Four chunks of 8 outputs at a time: four independent FMA chains per tap.
                    while ox &+ 32 <= ow {
                        var a0 = biasV, a1 = biasV, a2 = biasV, a3 = biasV
                        let base = rowBase + ox &* sw &* 4
                        var t = 0
                        while t < nTaps {
                            let p = base + offs[t]
                            let wt = w[t]
                            a0.addProduct(wt, L.load(p))
                            a1.addProduct(wt, L.load(p + step))
                            a2.addProduct(wt, L.load(p + 2 &* step))
                            a3.addProduct(wt, L.load(p + 3 &* step))
                            t &+= 1
                        }
                        outRaw.storeBytes(of: a0, toByteOffset: ox &* 4, as: SIMD8<Float>.self)
                        outRaw.storeBytes(of: a1, toByteOffset: (ox &+ 8) &* 4, as: SIMD8<Float>.self)
                        outRaw.storeBytes(of: a2, toByteOffset: (ox &+ 16) &* 4, as: SIMD8<Float>.self)
                        outRaw.storeBytes(of: a3, toByteOffset: (ox &+ 24) &* 4, as: SIMD8<Float>.self)
                        ox &+= 32
                    }
                    // Then single chunks with two chains (even and odd taps); a last partial chunk
                    // goes through the row buffer.
                    while ox < owPadded {
                        var a0 = biasV, a1 = SIMD8<Float>()
                        let base = rowBase + ox &* sw &* 4
                        var t = 0
                        while t &+ 1 < nTaps {
                            a0.addProduct(w[t], L.load(base + offs[t]))
                            a1.addProduct(w[t &+ 1], L.load(base + offs[t &+ 1]))
                            t &+= 2
                        }
                        if t < nTaps { a0.addProduct(w[t], L.load(base + offs[t])) }
                        let v = a0 + a1
                        if ox &+ 8 <= ow {
                            outRaw.storeBytes(of: v, toByteOffset: ox &* 4, as: SIMD8<Float>.self)
                        } else {
                            UnsafeMutableRawPointer(rowBuf).storeBytes(of: v, as: SIMD8<Float>.self)
                            (out + ox).update(from: rowBuf, count: ow &- ox)
                        }
                        ox &+= 8
                    }
                    activation.apply(out, ow)
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
        let packed = node.int("packed", 0) == 1
        let wShape = packed ? (node.ints("weight_shape") ?? []) : wt.shape
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
        let act = Activation(name: node.string("activation", ""), alpha: node.float("act_alpha", 0), beta: node.float("act_beta", 0)) ?? .none
        let outShape = [n, m] + geo.output
        if spatial.count > 2 {
            var y = try convND(x, wt, bias, geo: geo, group: group, node: node)
            y.f.withUnsafeMutableBufferPointer { act.apply($0.baseAddress!, $0.count) }
            return y
        }
        let two = spatial.count == 2
        let plan = Conv2DPlan(inC: c, outC: m, group: group, kh: two ? kernel[0] : 1, kw: kernel[two ? 1 : 0],
                              sh: two ? geo.strides[0] : 1, sw: geo.strides[two ? 1 : 0],
                              dh: two ? geo.dilations[0] : 1, dw: geo.dilations[two ? 1 : 0],
                              padT: two ? geo.padBegin[0] : 0, padL: geo.padBegin[two ? 1 : 0])
        let weights = packed ? wt.f : plan.pack(wt.f)
        guard weights.count == (plan.depthwise ? m * kernel.reduce(1, *) : plan.packedGroupSize * group) else {
            throw InvalidModelError("\(node.label): weight data does not match its shape \(wShape)")
        }
        let h = two ? spatial[0] : 1, w = spatial[two ? 1 : 0]
        let oh = two ? geo.output[0] : 1, ow = geo.output[two ? 1 : 0]
        let outCount = outShape.reduce(1, *)
        if outCount == 0 { return RTensor(outShape, floats: [], type: x.type) }
        // Every element is written by the kernels, so the buffer starts uninitialised.
        var out = [Float](unsafeUninitializedCapacity: outCount) { _, n in n = outCount }
        let b = bias?.floats
        x.f.withUnsafeBufferPointer { xp in
            weights.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    if let b {
                        b.withUnsafeBufferPointer { bp in
                            conv2d(xp.baseAddress!, n: n, h: h, w: w, plan: plan, oh: oh, ow: ow, weights: wp.baseAddress!,
                                   bias: bp.baseAddress!, activation: act, out: op.baseAddress!, threads: threads)
                        }
                    } else {
                        conv2d(xp.baseAddress!, n: n, h: h, w: w, plan: plan, oh: oh, ow: ow, weights: wp.baseAddress!,
                               bias: nil, activation: act, out: op.baseAddress!, threads: threads)
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

    /// ConvTranspose for any number of spatial axes (scatter formulation).
    static func convTranspose(_ node: RNode, _ inputs: [RTensor?]) throws -> RTensor {
        let x = try required(inputs, 0, node)
        let w = try required(inputs, 1, node)
        let bias = inputs.count > 2 ? inputs[2] : nil
        guard x.isFloat, w.isFloat, x.rank >= 3, w.rank == x.rank else {
            throw InvalidModelError("\(node.label): ConvTranspose needs float input and weight of equal rank ≥ 3")
        }
        let r = x.rank - 2
        let group = node.int("group", 1)
        let n = x.shape[0], c = x.shape[1]
        guard group > 0, c % group == 0, w.shape[0] == c else {
            throw InvalidModelError("\(node.label): weight \(w.shape) does not fit input \(x.shape) with group \(group)")
        }
        let mg = w.shape[1], m = mg * group, cg = c / group
        let input = Array(x.shape[2...])
        let kernel = node.ints("kernel_shape") ?? Array(w.shape[2...])
        let strides = node.ints("strides") ?? Array(repeating: 1, count: r)
        let dil = node.ints("dilations") ?? Array(repeating: 1, count: r)
        let outPad = node.ints("output_padding") ?? Array(repeating: 0, count: r)
        var padB = Array(repeating: 0, count: r), padE = padB
        var output = Array(repeating: 0, count: r)
        let autoPad = node.string("auto_pad", "NOTSET")
        let explicitOut = node.ints("output_shape")
        for a in 0..<r {
            let full = strides[a] * (input[a] - 1) + outPad[a] + (kernel[a] - 1) * dil[a] + 1
            let same = autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER"
            if let os = explicitOut, !same || node.ints("pads") != nil {
                // Explicit output shape with explicit (default zero) pads, as ONNX's reference does.
                if let pads = node.ints("pads"), pads.count == 2 * r { padB[a] = pads[a]; padE[a] = pads[a + r] }
                output[a] = os[os.count - r + a]
            } else if same {
                let target = explicitOut.map { $0[$0.count - r + a] } ?? input[a] * strides[a]
                let total = full - target
                let half = Int((Double(total) / 2).rounded(.down))
                if autoPad == "SAME_UPPER" { padB[a] = half; padE[a] = total - half } else {
                    padB[a] = total - half; padE[a] = half
                }
                output[a] = target
            } else {
                if let pads = node.ints("pads"), pads.count == 2 * r { padB[a] = pads[a]; padE[a] = pads[a + r] }
                output[a] = full - padB[a] - padE[a]
            }
        }
        let inSize = input.reduce(1, *), outSize = output.reduce(1, *), kSize = kernel.reduce(1, *)
        var y = [Float](repeating: 0, count: n * m * outSize)
        let inIdx = multiIndices(input), kIdx = multiIndices(kernel)
        let outStrides = stridesOf(output)
        for b in 0..<n {
            for ic in 0..<c {
                let g = ic / cg
                for i in 0..<inSize {
                    let xv = x.f[(b * c + ic) * inSize + i]
                    for kk in 0..<kSize {
                        var off = 0
                        var inside = true
                        for a in 0..<r {
                            let p = inIdx[i][a] * strides[a] + kIdx[kk][a] * dil[a] - padB[a]
                            if p < 0 || p >= output[a] { inside = false; break }
                            off += p * outStrides[a]
                        }
                        if !inside { continue }
                        for om in 0..<mg {
                            let oc = g * mg + om
                            y[(b * m + oc) * outSize + off] += xv * w.f[(ic * mg + om) * kSize + kk]
                        }
                    }
                }
            }
        }
        if let bias {
            let bv = bias.floats
            for b in 0..<n { for oc in 0..<m { for o in 0..<outSize { y[(b * m + oc) * outSize + o] += bv[oc] } } }
        }
        return RTensor([n, m] + output, floats: y, type: x.type)
    }

    /// All multi-indices of `shape` in row-major order.
    static func multiIndices(_ shape: [Int]) -> [[Int]] {
        let total = shape.reduce(1, *)
        var result: [[Int]] = []
        result.reserveCapacity(total)
        var idx = [Int](repeating: 0, count: shape.count)
        for _ in 0..<total {
            result.append(idx)
            var a = shape.count - 1
            while a >= 0 {
                idx[a] += 1
                if idx[a] < shape[a] { break }
                idx[a] = 0
                a -= 1
            }
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

/// How a depthwise row reads 8 consecutive outputs' inputs for one tap: stride 1 or stride 2.
protocol DepthwiseColumns {
    /// The horizontal stride.
    static var stride: Int { get }
    /// The 8 input values of 8 consecutive outputs, starting at `p`.
    static func load(_ p: UnsafeRawPointer) -> SIMD8<Float>
}

/// Stride 1: 8 consecutive floats.
enum Stride1Columns: DepthwiseColumns {
    static var stride: Int { 1 }
    @inline(__always) static func load(_ p: UnsafeRawPointer) -> SIMD8<Float> { p.loadUnaligned(as: SIMD8<Float>.self) }
}

/// Stride 2: the even floats of 16.
enum Stride2Columns: DepthwiseColumns {
    static var stride: Int { 2 }
    @inline(__always) static func load(_ p: UnsafeRawPointer) -> SIMD8<Float> { p.loadUnaligned(as: SIMD16<Float>.self).evenHalf }
}
