import KilnCore

extension ReferenceKernels {
    /// ConvTranspose for any number of spatial axes.
    ///
    /// 1-D and 2-D (every ConvTranspose of the usual upsampling heads) run as a GEMM and a
    /// scatter: per group, `col = Wᵀ · X` gives every input position's contribution to each
    /// (output channel, tap) pair — `mg·kh·kw` rows over the input positions — and `col2im` adds
    /// each row into its output plane, shifted by the tap and spread by the stride. The input is
    /// taken in bands of rows so `col` stays within 4 Mi floats. 3-D and up scatter directly.
    static func convTranspose(_ node: RNode, _ inputs: [RTensor?], threads: Int) throws -> RTensor {
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
        guard kernel == Array(w.shape[2...]) else {
            throw InvalidModelError("\(node.label): kernel_shape \(kernel) does not match the weight's spatial shape \(Array(w.shape[2...]))")
        }
        let strides = node.ints("strides") ?? Array(repeating: 1, count: r)
        let dil = node.ints("dilations") ?? Array(repeating: 1, count: r)
        let outPad = node.ints("output_padding") ?? Array(repeating: 0, count: r)
        guard strides.count == r, dil.count == r, outPad.count == r else {
            throw InvalidModelError("\(node.label): strides/dilations/output_padding do not match \(r) spatial axes")
        }
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
        guard output.allSatisfy({ $0 >= 0 }) else {
            throw InvalidModelError("\(node.label): pads \(padB + padE) leave a negative output size \(output)")
        }
        let inSize = input.reduce(1, *), outSize = output.reduce(1, *), kSize = kernel.reduce(1, *)
        // The output starts as the bias (or zeros); every tap's contribution is added onto it.
        var y = [Float](repeating: 0, count: n * m * outSize)
        if let bias {
            let bv = bias.floats
            guard bv.count == m else { throw InvalidModelError("\(node.label): bias has \(bv.count) values for \(m) output channels") }
            for b in 0..<n { for oc in 0..<m { y.withUnsafeMutableBufferPointer { ($0.baseAddress! + (b * m + oc) * outSize).update(repeating: bv[oc], count: outSize) } } }
        }
        if y.isEmpty || inSize == 0 { return RTensor([n, m] + output, floats: y, type: x.type) }
        if r <= 2 {
            let two = r == 2
            let plan = TransposedPlan(h: two ? input[0] : 1, w: input[r - 1], oh: two ? output[0] : 1, ow: output[r - 1],
                                      kh: two ? kernel[0] : 1, kw: kernel[r - 1], sh: two ? strides[0] : 1, sw: strides[r - 1],
                                      dh: two ? dil[0] : 1, dw: dil[r - 1], padT: two ? padB[0] : 0, padL: padB[r - 1])
            x.f.withUnsafeBufferPointer { xp in
                w.f.withUnsafeBufferPointer { wp in
                    y.withUnsafeMutableBufferPointer { yp in
                        for b in 0..<n {
                            for g in 0..<group {
                                convTransposeGroup(xp.baseAddress! + (b * c + g * cg) * inSize, cg: cg, mg: mg,
                                                   weights: wp.baseAddress! + g * cg * mg * kSize, plan: plan,
                                                   out: yp.baseAddress! + (b * m + g * mg) * outSize, threads: threads)
                            }
                        }
                    }
                }
            }
            return RTensor([n, m] + output, floats: y, type: x.type)
        }
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
        return RTensor([n, m] + output, floats: y, type: x.type)
    }

    /// The 2-D geometry of a ConvTranspose (1-D as one row): input and output sizes, kernel,
    /// strides, dilations and the leading pads.
    struct TransposedPlan: Sendable {
        var h: Int, w: Int, oh: Int, ow: Int
        var kh: Int, kw: Int, sh: Int, sw: Int, dh: Int, dw: Int
        var padT: Int, padL: Int

        /// The input columns whose output column `ix·sw + kx·dw − padL` lies inside the output.
        func columns(tap kx: Int) -> Range<Int> {
            let first = padL - kx * dw, last = ow - 1 + padL - kx * dw
            let lo = first > 0 ? (first + sw - 1) / sw : 0
            let hi = last < 0 ? 0 : min(w, last / sw + 1)
            return lo..<max(lo, hi)
        }
    }

    /// One group of one image: adds the transposed convolution of `cg` input planes (`x`) into
    /// `mg` output planes (`out`, holding the bias) with weights `cg`×`mg`×kh×kw.
    static func convTransposeGroup(_ x: UnsafePointer<Float>, cg: Int, mg: Int, weights: UnsafePointer<Float>, plan: TransposedPlan,
                                   out: UnsafeMutablePointer<Float>, threads: Int) {
        let taps = plan.kh * plan.kw, rowsM = mg * taps
        let hw = plan.h * plan.w, ohw = plan.oh * plan.ow
        let bandRows = max(1, min(plan.h, (1 << 22) / max(1, rowsM * plan.w)))
        let col = UnsafeMutablePointer<Float>.allocate(capacity: rowsM * bandRows * plan.w)
        defer { col.deallocate() }
        let columns = (0..<plan.kw).map { plan.columns(tap: $0) }
        var iy0 = 0
        while iy0 < plan.h {
            let rows = min(bandRows, plan.h - iy0), positions = rows * plan.w
            // col[om·taps + t][p] = Σ_ic W[ic][om][t] · X[ic][p]: A is Wᵀ (row stride 1, column stride rowsM).
            GEMM.multiply(m: rowsM, n: positions, k: cg, a: weights, lda: 1, sak: rowsM, b: x + iy0 * plan.w, ldb: hw,
                          c: col, threads: threads)
            let cp = SendablePointer(col), op = SendablePointer(out)
            let band = iy0
            parallelFor(mg, threads: rowsM * positions < 65536 ? 1 : threads) { range in
                for om in range {
                    let dst = op.p + om * ohw
                    for ky in 0..<plan.kh {
                        for kx in 0..<plan.kw {
                            let src = cp.p + ((om * plan.kh + ky) * plan.kw + kx) * positions
                            let cols = columns[kx]
                            if cols.isEmpty { continue }
                            for iy in 0..<rows {
                                let oy = (band + iy) * plan.sh + ky * plan.dh - plan.padT
                                if oy < 0 || oy >= plan.oh { continue }
                                let d = dst + oy * plan.ow + cols.lowerBound * plan.sw + kx * plan.dw - plan.padL
                                let s = src + iy * plan.w + cols.lowerBound
                                addStrided(d, stride: plan.sw, s, cols.count)
                            }
                        }
                    }
                }
            }
            iy0 += rows
        }
    }

    /// dst[i·stride] += src[i] for i < n: 8 lanes at a time where `stride` is 1 or 2.
    @inline(__always)
    static func addStrided(_ dst: UnsafeMutablePointer<Float>, stride: Int, _ src: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
        if stride == 1 {
            while i &+ 8 <= n {
                let v = d.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self) + s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
                d.storeBytes(of: v, toByteOffset: i &* 4, as: SIMD8<Float>.self)
                i &+= 8
            }
        } else if stride == 2 {
            // Eight inputs spread over 16 outputs: added to the even lanes of two 8-float vectors.
            // The odd lane after the eighth is read and written back unchanged, so another input must follow.
            while i &+ 9 <= n {
                let v = s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
                let lo = d.loadUnaligned(fromByteOffset: 2 &* i &* 4, as: SIMD8<Float>.self)
                    + SIMD8<Float>(v[0], 0, v[1], 0, v[2], 0, v[3], 0)
                let hi = d.loadUnaligned(fromByteOffset: (2 &* i &+ 8) &* 4, as: SIMD8<Float>.self)
                    + SIMD8<Float>(v[4], 0, v[5], 0, v[6], 0, v[7], 0)
                d.storeBytes(of: lo, toByteOffset: 2 &* i &* 4, as: SIMD8<Float>.self)
                d.storeBytes(of: hi, toByteOffset: (2 &* i &+ 8) &* 4, as: SIMD8<Float>.self)
                i &+= 8
            }
        }
        while i < n {
            dst[i &* stride] += src[i]
            i &+= 1
        }
    }
}
