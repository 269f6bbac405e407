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
                                   plan: plan, op.p + plane * ohw, oh: oh, ow: ow, scratch: scratch)
                    activation.apply(op.p + plane * ohw, ohw)
                }
            }
            return
        }
        let cg = plan.inC / plan.group, mg = plan.mPerGroup, k = plan.kPerGroup
        for b in 0..<n {
            for g in 0..<plan.group {
                let xg = x + (b * plan.inC + g * cg) * hw
                let cOut = out + (b * plan.outC + g * mg) * ohw
                let bg = bias.map { $0 + g * mg }
                let packedA = weights + g * plan.packedGroupSize
                if plan.pointwise {
                    GEMM.run(m: mg, n: ohw, k: k, packedA: packedA, c: cOut, ldc: ohw, bias: bg, activation: activation,
                             threads: threads) { n0, panel in
                        GEMM.packBPanel(xg, k: k, n: ohw, ldb: hw, n0: n0, into: panel)
                    }
                } else {
                    GEMM.run(m: mg, n: ohw, k: k, packedA: packedA, c: cOut, ldc: ohw, bias: bg, activation: activation,
                             threads: threads) { n0, panel in
                        im2colPanel(xg, c: cg, h: h, w: w, plan: plan, ow: ow, ohw: ohw, n0: n0, into: panel)
                    }
                }
            }
        }
    }

    /// Writes the im2col rows of output positions `n0..<n0+16` straight into a GEMM B panel.
    @inline(__always)
    static func im2colPanel(_ x: UnsafePointer<Float>, c: Int, h: Int, w: Int, plan: Conv2DPlan, ow: Int, ohw: Int, n0: Int,
                            into panel: UnsafeMutablePointer<Float>) {
        let nr = GEMM.nr
        var iy0 = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var ix0 = iy0
        let cols = min(nr, ohw - n0)
        withUnsafeMutableBytes(of: &iy0) { ry in
            withUnsafeMutableBytes(of: &ix0) { rx in
                let py = ry.baseAddress!.assumingMemoryBound(to: Int.self)
                let px = rx.baseAddress!.assumingMemoryBound(to: Int.self)
                for j in 0..<nr {
                    if j < cols {
                        let p = n0 + j
                        py[j] = (p / ow) * plan.sh - plan.padT
                        px[j] = (p % ow) * plan.sw - plan.padL
                    } else {
                        py[j] = -1_000_000
                        px[j] = -1_000_000
                    }
                }
                // Fast path: the whole panel lies in one output row, so each tap reads one input row
                // at a fixed stride; fully in-bounds taps need no per-element checks.
                let sameRow = cols == nr && py[0] == py[nr - 1]
                let sw = plan.sw
                var kk = 0
                for ch in 0..<c {
                    let plane = x + ch * h * w
                    for ky in 0..<plan.kh {
                        for kx in 0..<plan.kw {
                            let dst = panel + kk * nr
                            kk += 1
                            let dy = ky * plan.dh, dx = kx * plan.dw
                            if sameRow {
                                let iy = py[0] + dy
                                let ixs = px[0] + dx
                                if iy >= 0 && iy < h && ixs >= 0 && ixs + (nr - 1) * sw < w {
                                    let src = plane + iy * w + ixs
                                    if sw == 1 {
                                        dst.update(from: src, count: nr)
                                    } else {
                                        for j in 0..<nr { dst[j] = src[j &* sw] }
                                    }
                                    continue
                                }
                                if iy < 0 || iy >= h {
                                    dst.initialize(repeating: 0, count: nr)
                                    continue
                                }
                            }
                            for j in 0..<nr {
                                let iy = py[j] + dy, ix = px[j] + dx
                                dst[j] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? plane[iy * w + ix] : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// Scratch floats one depthwise worker needs: the zero-padded plane, its even/odd column
    /// split (stride 2) and one output row.
    static func depthwiseScratchSize(plan: Conv2DPlan, oh: Int, ow: Int) -> Int {
        let g = depthwiseGeometry(plan: plan, oh: oh, ow: ow)
        return g.rows * g.cols * 2 + g.owPadded
    }

    /// Rows and columns of the padded plane, and the output row width rounded up to 8.
    static func depthwiseGeometry(plan: Conv2DPlan, oh: Int, ow: Int) -> (rows: Int, cols: Int, owPadded: Int) {
        let rows = (oh - 1) * plan.sh + (plan.kh - 1) * plan.dh + 1
        let owPadded = (ow + 7) / 8 * 8
        let cols = (owPadded - 1) * plan.sw + (plan.kw - 1) * plan.dw + 2
        return (rows, cols, owPadded)
    }

    /// One channel of a depthwise convolution. The plane is copied into a zero-padded scratch (and,
    /// for stride 2, split into even and odd columns) so every tap of every output row is a
    /// contiguous, in-bounds vector load; rows accumulate 8 outputs per FMA.
    @inline(__always)
    static func depthwisePlane(_ x: UnsafePointer<Float>, h: Int, w: Int, _ k: UnsafePointer<Float>, bias: Float,
                               plan: Conv2DPlan, _ y: UnsafeMutablePointer<Float>, oh: Int, ow: Int,
                               scratch: UnsafeMutablePointer<Float>) {
        let (rows, cols, owPadded) = depthwiseGeometry(plan: plan, oh: oh, ow: ow)
        let padded = scratch
        padded.initialize(repeating: 0, count: rows * cols)
        for r in 0..<rows {
            let iy = r - plan.padT
            if iy < 0 || iy >= h { continue }
            let c0 = max(0, plan.padL), ix0 = max(0, -plan.padL)
            let n = min(w - ix0, cols - c0)
            if n > 0 { (padded + r * cols + c0).update(from: x + iy * w + ix0, count: n) }
        }
        let sw = plan.sw
        let split = sw == 2
        let half = (cols + 1) / 2
        let even = scratch + rows * cols, odd = even + rows * half
        if split {
            for r in 0..<rows {
                let src = padded + r * cols
                for c in 0..<half {
                    even[r * half + c] = src[2 * c]
                    odd[r * half + c] = 2 * c + 1 < cols ? src[2 * c + 1] : 0
                }
            }
        }
        let rowBuf = scratch + rows * cols * 2
        let kw = plan.kw, kh = plan.kh, dw = plan.dw
        if sw == 1 || split {
            // Per tap: its source plane and column offset (fixed for the whole plane), and its
            // weight broadcast once; each output row then only adds its row offset.
            let rowStride = split ? half : cols
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: kh * kw) { taps in
                withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: kh * kw) { weights in
                    for ky in 0..<kh {
                        for kx in 0..<kw {
                            let col = kx * dw
                            let rowOff = ky * plan.dh * rowStride
                            if split {
                                taps[ky * kw + kx] = UnsafePointer((col % 2 == 0 ? even : odd) + rowOff + col / 2)
                            } else {
                                taps[ky * kw + kx] = UnsafePointer(padded + rowOff + col)
                            }
                            weights[ky * kw + kx] = SIMD8<Float>(repeating: k[ky * kw + kx])
                        }
                    }
                    let nTaps = kh * kw
                    let biasV = SIMD8<Float>(repeating: bias)
                    for oy in 0..<oh {
                        let offset = oy * plan.sh * rowStride
                        let out = UnsafeMutableRawPointer(rowBuf)
                        var ox = 0
                        while ox < owPadded {
                            var a0 = biasV, a1 = SIMD8<Float>()
                            var t = 0
                            while t &+ 1 < nTaps {
                                a0.addProduct(weights[t], UnsafeRawPointer(taps[t] + (offset &+ ox)).loadUnaligned(as: SIMD8<Float>.self))
                                a1.addProduct(weights[t &+ 1], UnsafeRawPointer(taps[t &+ 1] + (offset &+ ox)).loadUnaligned(as: SIMD8<Float>.self))
                                t &+= 2
                            }
                            if t < nTaps {
                                a0.addProduct(weights[t], UnsafeRawPointer(taps[t] + (offset &+ ox)).loadUnaligned(as: SIMD8<Float>.self))
                            }
                            out.storeBytes(of: a0 + a1, toByteOffset: ox &* 4, as: SIMD8<Float>.self)
                            ox &+= 8
                        }
                        (y + oy * ow).update(from: rowBuf, count: ow)
                    }
                }
            }
            return
        }
        for oy in 0..<oh {
            rowBuf.initialize(repeating: bias, count: owPadded)
            for ky in 0..<kh {
                let r = oy * plan.sh + ky * plan.dh
                let src = padded + r * cols
                for ox in 0..<ow {
                    var acc: Float = 0
                    for kx in 0..<kw { acc += k[ky * kw + kx] * src[ox * sw + kx * dw] }
                    rowBuf[ox] += acc
                }
            }
            (y + oy * ow).update(from: rowBuf, count: ow)
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
