import Foundation
import KilnCore

extension ReferenceKernels {
    /// MaxPool / AveragePool over any number of spatial axes (MaxPool's optional Indices output too).
    static func pool(_ node: RNode, _ x: RTensor, threads: Int) throws -> [RTensor] {
        guard x.rank >= 3 else { throw InvalidModelError("\(node.label): pooling needs rank ≥ 3, got \(x.shape)") }
        guard let kernel = node.ints("kernel_shape") else { throw InvalidModelError("\(node.label): kernel_shape is required") }
        let isMax = node.op == .maxPool
        let spatial = Array(x.shape[2...])
        let geo = try WindowGeometry(node: node, input: spatial, kernel: kernel, ceilMode: node.int("ceil_mode", 0) == 1)
        let includePad = node.int("count_include_pad", 0) == 1
        let columnMajor = node.int("storage_order", 0) == 1
        let r = spatial.count
        let planes = x.shape[0] * x.shape[1]
        let inSize = spatial.reduce(1, *), outSize = geo.output.reduce(1, *)
        if r == 2, x.isFloat, node.outputs.count < 2 || node.outputs[1] < 0, geo.dilations == [1, 1] {
            return [pool2D(x, geo: geo, isMax: isMax, includePad: includePad, threads: threads)]
        }
        let values = x.floats
        var y = [Float](repeating: 0, count: planes * outSize)
        var indices = isMax ? [Int64](repeating: 0, count: planes * outSize) : []
        let outIdx = multiIndices(geo.output), kIdx = multiIndices(kernel)
        let inStrides = stridesOf(spatial)
        var colStrides = [Int](repeating: 1, count: r)
        for a in 1..<max(1, r) { colStrides[a] = colStrides[a - 1] * spatial[a - 1] }
        // Fast 2-D path for the common max pool (no dilation).
        for plane in 0..<planes {
            let base = plane * inSize
            for o in 0..<outSize {
                var best = -Float.infinity, bestIndex = 0, sum: Float = 0, count = 0, padCount = 0
                for kk in 0..<kIdx.count {
                    var off = 0, colOff = 0
                    var inside = true, insidePad = true
                    for a in 0..<r {
                        let p = outIdx[o][a] * geo.strides[a] - geo.padBegin[a] + kIdx[kk][a] * geo.dilations[a]
                        if p < 0 || p >= spatial[a] { inside = false }
                        if p < -geo.padBegin[a] || p >= spatial[a] + geo.padEnd[a] { insidePad = false }
                        off += p * inStrides[a]
                        colOff += p * colStrides[a]
                    }
                    if insidePad { padCount += 1 }
                    if !inside { continue }
                    let v = values[base + off]
                    count += 1
                    if isMax {
                        if v > best || count == 1 && !(v <= best) {
                            best = v
                            bestIndex = columnMajor ? colOff : off
                        }
                    } else {
                        sum += v
                    }
                }
                if isMax {
                    y[plane * outSize + o] = best
                    indices[plane * outSize + o] = Int64(base + bestIndex)
                } else {
                    let divisor = includePad ? padCount : count
                    y[plane * outSize + o] = divisor > 0 ? sum / Float(divisor) : 0
                }
            }
        }
        let shape = Array(x.shape[0..<2]) + geo.output
        var out: RTensor
        if x.isFloat {
            out = RTensor(type: x.type, shape: shape, f: y)
        } else {
            out = RTensor(shape, ints: y.map { Int64($0) }, type: x.type)
        }
        if isMax { return [out, RTensor(shape, ints: indices)] }
        return [out]
    }

    /// 2-D max pooling with horizontal stride 1 or 2, as a column max then a row max (the max of
    /// a window is the max of its rows' maxima, NaN included): per output row, the `kh` input rows
    /// in the window (rows in the padding are skipped) are reduced into one row, which sits in a
    /// −∞-padded buffer; each output is then the max of `kw` neighbours of that row — contiguous
    /// loads at stride 1, even/odd lanes of 16-float loads at stride 2. No phase planes, about
    /// `kh + kw` vector maxima per 8 outputs instead of `kh · kw`. NaN wins, as in the scalar path.
    static func maxPoolSeparable(_ x: RTensor, geo: WindowGeometry, threads: Int) -> RTensor {
        let planes = x.shape[0] * x.shape[1]
        let h = geo.input[0], w = geo.input[1], oh = geo.output[0], ow = geo.output[1]
        let kh = geo.kernel[0], kw = geo.kernel[1], sh = geo.strides[0], sw = geo.strides[1]
        let pt = geo.padBegin[0], pl = geo.padBegin[1]
        let wide = (ow + 7) / 8 * 8
        // The row buffer: `pl` floats of padding, the row, then −∞ up to what the last 8 outputs read.
        let rowFloats = max(pl + w, wide * sw + kw + 16) + 16
        let count = planes * oh * ow
        @inline(__always) func maxNaN(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
            a.replacing(with: b, where: (b .> a) .| (b .!= b))
        }
        let y = [Float](unsafeUninitializedCapacity: count) { yb, initialized in
            x.f.withUnsafeBufferPointer { xb in
                let xp = SendablePointer(UnsafeMutablePointer(mutating: xb.baseAddress!)), yp = SendablePointer(yb.baseAddress!)
                parallelFor(planes, threads: threads) { range in
                    let row = AlignedFloats.allocate(rowFloats)
                    defer { row.deallocate() }
                    row.initialize(repeating: -.infinity, count: rowFloats)
                    let line = row + pl
                    var last = SIMD8<Float>()
                    for plane in range {
                        let src = xp.p + plane * h * w
                        for oy in 0..<oh {
                            let y0 = oy * sh - pt
                            let ya = max(y0, 0), ye = min(y0 + kh, h)
                            let out = yp.p + (plane * oh + oy) * ow
                            if ya >= ye {
                                out.initialize(repeating: -.infinity, count: ow)
                                continue
                            }
                            // Column max of rows ya..<ye into `line`.
                            var q = 0
                            while q &+ 8 <= w {
                                var m = UnsafeRawPointer(src + ya * w + q).loadUnaligned(as: SIMD8<Float>.self)
                                for r in (ya + 1)..<ye { m = maxNaN(m, UnsafeRawPointer(src + r * w + q).loadUnaligned(as: SIMD8<Float>.self)) }
                                UnsafeMutableRawPointer(line + q).storeBytes(of: m, as: SIMD8<Float>.self)
                                q &+= 8
                            }
                            while q < w {
                                var m = src[ya * w + q]
                                for r in (ya + 1)..<ye {
                                    let v = src[r * w + q]
                                    if v > m || v != v { m = v }
                                }
                                line[q] = m
                                q &+= 1
                            }
                            // Row max: output ox takes row[ox·sw ..< ox·sw + kw].
                            let base = UnsafeRawPointer(row)
                            var ox = 0
                            while ox < ow {
                                var m: SIMD8<Float>
                                if sw == 1 {
                                    m = base.loadUnaligned(fromByteOffset: ox &* 4, as: SIMD8<Float>.self)
                                    for j in 1..<max(1, kw) { m = maxNaN(m, base.loadUnaligned(fromByteOffset: (ox &+ j) &* 4, as: SIMD8<Float>.self)) }
                                } else {
                                    m = base.loadUnaligned(fromByteOffset: 2 &* ox &* 4, as: SIMD16<Float>.self).evenHalf
                                    var j = 1
                                    while j < kw {
                                        let v = base.loadUnaligned(fromByteOffset: (2 &* ox &+ j &- (j & 1)) &* 4, as: SIMD16<Float>.self)
                                        m = maxNaN(m, j & 1 == 1 ? v.oddHalf : v.evenHalf)
                                        j &+= 1
                                    }
                                }
                                if ox &+ 8 <= ow {
                                    UnsafeMutableRawPointer(out + ox).storeBytes(of: m, as: SIMD8<Float>.self)
                                } else {
                                    last = m
                                    for i in 0..<(ow &- ox) { out[ox &+ i] = last[i] }
                                }
                                ox &+= 8
                            }
                        }
                    }
                }
            }
            initialized = count
        }
        return RTensor(type: x.type, shape: Array(x.shape[0..<2]) + geo.output, f: y)
    }

    /// 2-D max pooling on stride-phase planes padded with -∞ (the depthwise convolution's layout):
    /// every window tap is a fixed offset, 8 outputs per vector max. NaN wins as in the scalar path.
    static func maxPool2D(_ x: RTensor, geo: WindowGeometry, threads: Int) -> RTensor {
        let planes = x.shape[0] * x.shape[1]
        let h = geo.input[0], w = geo.input[1], oh = geo.output[0], ow = geo.output[1]
        let plan = Conv2DPlan(inC: 1, outC: 1, group: 1, kh: geo.kernel[0], kw: geo.kernel[1], sh: geo.strides[0], sw: geo.strides[1],
                              dh: 1, dw: 1, padT: geo.padBegin[0], padL: geo.padBegin[1])
        let layout = PhaseLayout(plan: plan, h: h, w: w, oh: oh, ow: ow)
        let count = planes * oh * ow
        let y = [Float](unsafeUninitializedCapacity: count) { yb, initialized in
            x.f.withUnsafeBufferPointer { xb in
                let xp = SendablePointer(UnsafeMutablePointer(mutating: xb.baseAddress!)), yp = SendablePointer(yb.baseAddress!)
                parallelFor(planes, threads: threads) { range in
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: layout.scratchFloats)
                    defer { scratch.deallocate() }
                    layout.fill(scratch, padding: -.infinity)
                    let out = scratch + (layout.planesFloats + layout.slack)
                    let n = oh * layout.wq
                    layout.offsets.withUnsafeBufferPointer { offs in
                        for plane in range {
                            layout.load(xp.p + plane * h * w, into: scratch)
                            let base = UnsafeRawPointer(scratch)
                            let outRaw = UnsafeMutableRawPointer(out)
                            var q = 0
                            while q < n {
                                var best = SIMD8<Float>(repeating: -.infinity)
                                for t in 0..<layout.taps {
                                    let v = (base + (offs[t] &+ q &* 4)).loadUnaligned(as: SIMD8<Float>.self)
                                    best = best.replacing(with: v, where: (v .> best) .| (v .!= v))
                                }
                                outRaw.storeBytes(of: best, toByteOffset: q &* 4, as: SIMD8<Float>.self)
                                q &+= 8
                            }
                            layout.store(out, to: yp.p + plane * oh * ow)
                        }
                    }
                }
            }
            initialized = count
        }
        return RTensor(type: x.type, shape: Array(x.shape[0..<2]) + geo.output, f: y)
    }

    /// 2-D max/average pooling without dilation: window bounds clipped per output, planes in parallel.
    static func pool2D(_ x: RTensor, geo: WindowGeometry, isMax: Bool, includePad: Bool, threads: Int) -> RTensor {
        if isMax && geo.output[0] > 0 && geo.output[1] > 0 {
            return geo.strides[1] <= 2 ? maxPoolSeparable(x, geo: geo, threads: threads) : maxPool2D(x, geo: geo, threads: threads)
        }
        let planes = x.shape[0] * x.shape[1]
        let h = geo.input[0], w = geo.input[1], oh = geo.output[0], ow = geo.output[1]
        let kh = geo.kernel[0], kw = geo.kernel[1], sh = geo.strides[0], sw = geo.strides[1]
        let pt = geo.padBegin[0], pl = geo.padBegin[1], pb = geo.padEnd[0], pr = geo.padEnd[1]
        var y = [Float](repeating: 0, count: planes * oh * ow)
        x.f.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                let xp = SendablePointer(UnsafeMutablePointer(mutating: xb.baseAddress!)), yp = SendablePointer(yb.baseAddress!)
                parallelFor(planes, threads: threads) { range in
                    for plane in range {
                        let src = xp.p + plane * h * w, dst = yp.p + plane * oh * ow
                        for oy in 0..<oh {
                            let y0 = oy * sh - pt
                            let ya = max(y0, 0), yb = min(y0 + kh, h)
                            let padRows = min(y0 + kh, h + pb) - max(y0, -pt)
                            for ox in 0..<ow {
                                let x0 = ox * sw - pl
                                let xa = max(x0, 0), xe = min(x0 + kw, w)
                                var best = -Float.infinity, sum: Float = 0
                                if ya < yb && xa < xe {
                                    for iy in ya..<yb {
                                        let row = src + iy * w
                                        for ix in xa..<xe {
                                            let v = row[ix]
                                            if isMax { if v > best || v.isNaN { best = v } } else { sum += v }
                                        }
                                    }
                                }
                                if isMax {
                                    dst[oy * ow + ox] = best
                                } else {
                                    let count = includePad ? padRows * (min(x0 + kw, w + pr) - max(x0, -pl)) : (yb - ya) * (xe - xa)
                                    dst[oy * ow + ox] = count > 0 ? sum / Float(count) : 0
                                }
                            }
                        }
                    }
                }
            }
        }
        return RTensor(type: x.type, shape: Array(x.shape[0..<2]) + geo.output, f: y)
    }

    /// GlobalAveragePool / GlobalMaxPool: one value per (n, c) plane.
    static func globalPool(_ node: RNode, _ x: RTensor, threads: Int) throws -> RTensor {
        guard x.rank >= 3, x.isFloat else { throw InvalidModelError("\(node.label): needs a float tensor of rank ≥ 3") }
        let planes = x.shape[0] * x.shape[1]
        let size = x.shape[2...].reduce(1, *)
        var y = [Float](repeating: 0, count: planes)
        let isMax = node.op == .globalMaxPool
        x.f.withUnsafeBufferPointer { xp in
            for p in 0..<planes {
                let s = xp.baseAddress! + p * size
                if isMax {
                    var m = -Float.infinity
                    for k in 0..<size { m = max(m, s[k]) }
                    y[p] = m
                } else {
                    var acc = SIMD8<Float>()
                    var k = 0
                    let raw = UnsafeRawPointer(s)
                    while k + 8 <= size {
                        acc += raw.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
                        k += 8
                    }
                    var total = acc.sum()
                    while k < size { total += s[k]; k += 1 }
                    y[p] = total / Float(size)
                }
            }
        }
        return RTensor(type: x.type, shape: Array(x.shape[0..<2]) + Array(repeating: 1, count: x.rank - 2), f: y)
    }

    /// BatchNormalization in inference mode, or training mode (batch statistics and running stats).
    static func batchNorm(_ node: RNode, _ inputs: [RTensor?]) throws -> [RTensor] {
        let x = try required(inputs, 0, node)
        let scale = try required(inputs, 1, node).floats, bias = try required(inputs, 2, node).floats
        let mean = try required(inputs, 3, node).floats, variance = try required(inputs, 4, node).floats
        let eps = node.float("epsilon", 1e-5)
        let c = x.rank > 1 ? x.shape[1] : 1
        let n = x.shape.first ?? 1
        let inner = x.rank > 2 ? x.shape[2...].reduce(1, *) : 1
        guard scale.count == c, bias.count == c, mean.count == c, variance.count == c else {
            throw InvalidModelError("\(node.label): scale/bias/mean/var must have \(c) values")
        }
        var y = x.f
        let training = node.int("training_mode", 0) == 1 && node.opset >= 14
        var useMean = mean, useVar = variance
        if training {
            for ch in 0..<c {
                var s = 0.0, s2 = 0.0
                for b in 0..<n { for k in 0..<inner { let v = Double(x.f[(b * c + ch) * inner + k]); s += v; s2 += v * v } }
                let cnt = Double(n * inner)
                let mu = s / cnt
                useMean[ch] = Float(mu)
                useVar[ch] = Float(s2 / cnt - mu * mu)
            }
        }
        for b in 0..<n {
            for ch in 0..<c {
                let a = scale[ch] / (useVar[ch] + eps).squareRoot()
                let sh = bias[ch] - useMean[ch] * a
                let base = (b * c + ch) * inner
                for k in 0..<inner { y[base + k] = y[base + k] * a + sh }
            }
        }
        var outs = [RTensor(type: x.type, shape: x.shape, f: y)]
        if training {
            let momentum = node.float("momentum", 0.9)
            outs.append(RTensor([c], floats: (0..<c).map { mean[$0] * momentum + useMean[$0] * (1 - momentum) }, type: x.type))
            outs.append(RTensor([c], floats: (0..<c).map { variance[$0] * momentum + useVar[$0] * (1 - momentum) }, type: x.type))
        }
        return outs
    }

    /// Softmax along `axis` (opset ≥ 13) or over the 2-D coercion at `axis` (opset < 13).
    static func softmax(_ node: RNode, _ x: RTensor, threads: Int) throws -> RTensor {
        guard x.isFloat else { throw InvalidModelError("\(node.label): Softmax needs a float tensor") }
        let r = x.rank
        var axis = node.int("axis", node.opset >= 13 ? -1 : 1)
        if axis < 0 { axis += r }
        guard axis >= 0 && axis < max(r, 1) else { throw InvalidModelError("\(node.label): axis out of range for \(x.shape)") }
        let outer: Int, len: Int, inner: Int
        if node.opset >= 13 {
            outer = x.shape[..<axis].reduce(1, *)
            len = r == 0 ? 1 : x.shape[axis]
            inner = r == 0 ? 1 : x.shape[(axis + 1)...].reduce(1, *)
        } else {
            outer = x.shape[..<axis].reduce(1, *)
            len = x.shape[axis...].reduce(1, *)
            inner = 1
        }
        var y = x.f
        if inner == 1 && len > 0 {
            // Softmax along contiguous rows: 8 lanes at a time, rows split across threads.
            let count = outer
            y.withUnsafeMutableBufferPointer { buf in
                let yp = SendablePointer(buf.baseAddress!)
                parallelFor(count, threads: threads, minChunk: max(1, 16384 / len)) { rows in
                    for o in rows { softmaxRow(yp.p + o * len, len) }
                }
            }
            return RTensor(type: x.type, shape: x.shape, f: y)
        }
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * len * inner + i
                var m = -Float.infinity
                for k in 0..<len { m = max(m, y[base + k * inner]) }
                var s: Float = 0
                for k in 0..<len { let e = Foundation.exp(y[base + k * inner] - m); y[base + k * inner] = e; s += e }
                for k in 0..<len { y[base + k * inner] /= s }
            }
        }
        return RTensor(type: x.type, shape: x.shape, f: y)
    }

    /// Softmax of `n` contiguous floats in place: e^(x − max) with `VectorMath.exp`, over their sum.
    static func softmaxRow(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        let raw = UnsafeMutableRawPointer(p)
        var i = 0
        var mv = SIMD8<Float>(repeating: -.infinity)
        while i &+ 8 <= n {
            mv = pointwiseMax(mv, raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self))
            i &+= 8
        }
        var m = mv.max()
        while i < n { m = max(m, p[i]); i &+= 1 }
        let mb = SIMD8<Float>(repeating: m)
        var sv = SIMD8<Float>()
        i = 0
        while i &+ 8 <= n {
            let e = VectorMath.exp(raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self) - mb)
            raw.storeBytes(of: e, toByteOffset: i &* 4, as: SIMD8<Float>.self)
            sv += e
            i &+= 8
        }
        var s = sv.sum()
        if i < n {
            var v = SIMD8<Float>()
            for l in 0..<(n &- i) { v[l] = p[i &+ l] }
            let e = VectorMath.exp(v - mb)
            for l in 0..<(n &- i) { p[i &+ l] = e[l]; s += e[l] }
        }
        let sum = SIMD8<Float>(repeating: s)
        i = 0
        while i &+ 8 <= n {
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self) / sum, toByteOffset: i &* 4, as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < n { p[i] /= s; i &+= 1 }
    }

    /// ReduceMean over `axes` (attribute before opset 18, input from 18), with keepdims and noop_with_empty_axes.
    static func reduceMean(_ node: RNode, _ inputs: [RTensor?]) throws -> RTensor {
        let x = try required(inputs, 0, node)
        let r = x.rank
        var axes: [Int]
        if node.opset >= 18 {
            axes = (inputs.count > 1 ? inputs[1]?.int64s.map { Int($0) } : nil) ?? []
        } else {
            axes = node.ints("axes") ?? []
        }
        let keep = node.int("keepdims", 1) == 1
        if axes.isEmpty {
            if node.int("noop_with_empty_axes", 0) == 1 { return x }
            axes = Array(0..<r)
        }
        axes = try axes.map { a in
            let v = a < 0 ? a + r : a
            guard v >= 0 && v < r else { throw InvalidModelError("\(node.label): axis \(a) out of range for \(x.shape)") }
            return v
        }
        let reduced = Set(axes)
        var outShapeKeep = x.shape
        for a in reduced { outShapeKeep[a] = 1 }
        let outCount = outShapeKeep.reduce(1, *)
        var sums = [Double](repeating: 0, count: outCount)
        let inStrides = Broadcast.strides(outShapeKeep, to: x.shape)
        let values = x.floats
        var idx = [Int](repeating: 0, count: r)
        for k in 0..<x.count {
            var off = 0
            for a in 0..<r { off += idx[a] * inStrides[a] }
            sums[off] += Double(values[k])
            advance(&idx, within: x.shape)
        }
        let n = Double(x.count / max(outCount, 1))
        let shape = keep ? outShapeKeep : x.shape.enumerated().filter { !reduced.contains($0.offset) }.map(\.element)
        if x.isFloat { return RTensor(type: x.type, shape: shape, f: sums.map { Float($0 / n) }) }
        return RTensor(shape, ints: sums.map { Int64($0 / n) }, type: x.type)
    }

    /// MatMul with numpy semantics (1-D promotion, batch broadcasting).
    static func matmul(_ node: RNode, _ a: RTensor, _ b: RTensor, threads: Int) throws -> RTensor {
        guard a.isFloat, b.isFloat else { throw InvalidModelError("\(node.label): MatMul supports float tensors") }
        var sa = a.shape, sb = b.shape
        let aVec = sa.count == 1, bVec = sb.count == 1
        if aVec { sa = [1] + sa }
        if bVec { sb = sb + [1] }
        let m = sa[sa.count - 2], k = sa[sa.count - 1], k2 = sb[sb.count - 2], n = sb[sb.count - 1]
        guard k == k2 else { throw InvalidModelError("\(node.label): inner dimensions \(a.shape) × \(b.shape) differ") }
        let batchA = Array(sa.dropLast(2)), batchB = Array(sb.dropLast(2))
        let batch = try Broadcast.shape([batchA, batchB], node)
        let batches = batch.reduce(1, *)
        let stA = Broadcast.strides(batchA, to: batch), stB = Broadcast.strides(batchB, to: batch)
        var y = [Float](repeating: 0, count: batches * m * n)
        let bIdx = multiIndices(batch)
        a.f.withUnsafeBufferPointer { ap in
            b.f.withUnsafeBufferPointer { bp in
                y.withUnsafeMutableBufferPointer { yp in
                    for t in 0..<batches {
                        var oa = 0, ob = 0
                        for d in 0..<batch.count { oa += bIdx[t][d] * stA[d]; ob += bIdx[t][d] * stB[d] }
                        GEMM.multiply(m: m, n: n, k: k, a: ap.baseAddress! + oa * m * k, lda: k,
                                      b: bp.baseAddress! + ob * k * n, ldb: n, c: yp.baseAddress! + t * m * n, threads: threads)
                    }
                }
            }
        }
        var shape = batch + [m, n]
        if bVec { shape.removeLast() }
        if aVec { shape.remove(at: shape.count - (bVec ? 1 : 2)) }
        return RTensor(type: a.type, shape: shape, f: y)
    }

    /// Gemm: alpha·op(A)·op(B) + beta·C, with C broadcast to (M, N).
    static func gemm(_ node: RNode, _ inputs: [RTensor?], threads: Int) throws -> RTensor {
        let a = try required(inputs, 0, node), b = try required(inputs, 1, node)
        guard a.rank == 2, b.rank == 2, a.isFloat, b.isFloat else {
            throw InvalidModelError("\(node.label): Gemm needs 2-D float inputs, got \(a.shape) and \(b.shape)")
        }
        let ta = node.int("transA", 0) == 1, tb = node.int("transB", 0) == 1
        let alpha = node.float("alpha", 1), beta = node.float("beta", 1)
        let m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1]
        let kb = tb ? b.shape[1] : b.shape[0], n = tb ? b.shape[0] : b.shape[1]
        guard k == kb else { throw InvalidModelError("\(node.label): inner dimensions of \(a.shape) and \(b.shape) differ") }
        var y = [Float](repeating: 0, count: m * n)
        a.f.withUnsafeBufferPointer { ap in
            b.f.withUnsafeBufferPointer { bp in
                y.withUnsafeMutableBufferPointer { yp in
                    GEMM.multiply(m: m, n: n, k: k, a: ap.baseAddress!, lda: ta ? 1 : k, sak: ta ? m : 1,
                                  b: bp.baseAddress!, ldb: tb ? 1 : n, sbn: tb ? k : 1, c: yp.baseAddress!, threads: threads)
                }
            }
        }
        if alpha != 1 { for i in 0..<y.count { y[i] *= alpha } }
        if inputs.count > 2, let c = inputs[2], beta != 0 {
            let cv = Broadcast.expand(c.floats, c.shape, to: [m, n], zero: Float(0))
            for i in 0..<y.count { y[i] += beta * cv[i] }
        }
        return RTensor(type: a.type, shape: [m, n], f: y)
    }
}
