import Foundation
import KilnCore

extension RTensor {
    /// A tensor of the same type whose element k is this tensor's element `source[k]`.
    func gathered(_ source: [Int], shape: [Int]) -> RTensor {
        var t = RTensor(type: type, shape: shape)
        if isFloat { t.f = source.map { f[$0] } } else if isString { t.s = source.map { s[$0] } } else { t.i = source.map { i[$0] } }
        return t
    }

    /// Concatenation of flat storage of several tensors of this type.
    static func joined(_ parts: [RTensor], type: ElementType, shape: [Int]) -> RTensor {
        var t = RTensor(type: type, shape: shape)
        if type.isFloatKind { t.f = parts.flatMap(\.f) } else if type == .string { t.s = parts.flatMap(\.s) } else { t.i = parts.flatMap(\.i) }
        return t
    }
}

extension ReferenceKernels {
    static func normalizeAxis(_ axis: Int, rank: Int, _ node: RNode) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < max(rank, 1) else { throw InvalidModelError("\(node.label): axis \(axis) is out of range for rank \(rank)") }
        return a
    }

    /// The view of `x` at `offset` with `shape` and element `strides`, copied into dense
    /// row-major storage: axes that are contiguous in the view are merged, then each innermost
    /// run is a vector copy (stride 1), an even-lane gather (stride 2) or a strided loop.
    static func stridedCopy(_ x: [Float], offset: Int, shape: [Int], strides: [Int], threads: Int = 1) -> [Float] {
        let count = shape.reduce(1, *)
        if count == 0 { return [] }
        // Drop size-1 axes and merge an axis into the next where it steps exactly over it.
        var dims: [Int] = [], st: [Int] = []
        for (d, s) in zip(shape, strides) where d != 1 {
            if let last = dims.last, st[st.count - 1] == s * d {
                dims[dims.count - 1] = last * d
                st[st.count - 1] = s
            } else {
                dims.append(d)
                st.append(s)
            }
        }
        if dims.isEmpty { return [x[offset]] }
        let r = dims.count, inner = dims[r - 1], step = st[r - 1]
        return [Float](unsafeUninitializedCapacity: count) { out, n in
            x.withUnsafeBufferPointer { src in
                let sp = SendablePointer(UnsafeMutablePointer(mutating: src.baseAddress!)), op = SendablePointer(out.baseAddress!)
                // Rows split across threads where the copy is large (YOLOX's Focus slices,
                // a detector neck's concatenations: megabytes each), at least 32 Ki floats a chunk.
                parallelFor(count / inner, threads: count < copySplitFloats ? 1 : threads, minChunk: max(1, copyChunkFloats / inner)) { rows in
                    // The first row's multi-index over the outer axes and its source offset.
                    var idx = [Int](repeating: 0, count: r - 1)
                    var off = offset, rest = rows.lowerBound
                    for a in stride(from: r - 2, through: 0, by: -1) {
                        idx[a] = rest % dims[a]
                        rest /= dims[a]
                        off += idx[a] * st[a]
                    }
                    for row in rows {
                        let s = UnsafePointer(sp.p + off), d = op.p + row * inner
                        if step == 1 {
                            copyFloats(d, s, inner)
                        } else if step == 2 {
                            gatherEven(d, s, inner)
                        } else {
                            for k in 0..<inner { d[k] = s[k &* step] }
                        }
                        advance(&idx, within: dims, from: r - 2, offset: &off, strides: st)
                    }
                }
            }
            n = count
        }
    }

    /// Copies (Slice, Split, Transpose, Concat) of at least this many floats are split across
    /// threads, in chunks of at least `copyChunkFloats`.
    static let copySplitFloats = 1 << 16
    /// The least floats one thread copies in one chunk of a split copy.
    static let copyChunkFloats = 1 << 15

    static func reshape(_ node: RNode, _ x: RTensor, _ shapeTensor: RTensor) throws -> RTensor {
        let allowZero = node.int("allowzero", 0) == 1
        var shape = shapeTensor.int64s.map { Int($0) }
        var unknown = -1
        for k in 0..<shape.count {
            if shape[k] == 0 && !allowZero {
                guard k < x.rank else { throw InvalidModelError("\(node.label): 0 at axis \(k) beyond input rank \(x.rank)") }
                shape[k] = x.shape[k]
            } else if shape[k] == -1 {
                guard unknown < 0 else { throw InvalidModelError("\(node.label): more than one -1 in shape \(shape)") }
                unknown = k
            } else if shape[k] < 0 {
                throw InvalidModelError("\(node.label): invalid dimension \(shape[k]) in shape")
            }
        }
        if unknown >= 0 {
            let known = shape.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
            guard known > 0, x.count % known == 0 else { throw InvalidModelError("\(node.label): cannot reshape \(x.shape) to \(shape)") }
            shape[unknown] = x.count / known
        }
        guard shape.reduce(1, *) == x.count else { throw InvalidModelError("\(node.label): cannot reshape \(x.shape) to \(shape)") }
        return x.reshaped(shape)
    }

    static func flatten(_ node: RNode, _ x: RTensor) throws -> RTensor {
        var axis = node.int("axis", 1)
        if axis < 0 { axis += x.rank }
        guard axis >= 0 && axis <= x.rank else { throw InvalidModelError("\(node.label): axis out of range for \(x.shape)") }
        let outer = x.shape[..<axis].reduce(1, *)
        return x.reshaped([outer, x.shape[axis...].reduce(1, *)])
    }

    static func transpose(_ node: RNode, _ x: RTensor, threads: Int = 1) throws -> RTensor {
        let r = x.rank
        let perm = node.ints("perm") ?? Array((0..<r).reversed())
        guard perm.count == r, Set(perm) == Set(0..<r) else { throw InvalidModelError("\(node.label): perm \(perm) is not a permutation of \(r) axes") }
        let outShape = perm.map { x.shape[$0] }
        let inStrides = stridesOf(x.shape)
        let st = perm.map { inStrides[$0] }
        if x.isFloat { return RTensor(type: x.type, shape: outShape, f: stridedCopy(x.f, offset: 0, shape: outShape, strides: st, threads: threads)) }
        var source = [Int](repeating: 0, count: x.count)
        var idx = [Int](repeating: 0, count: r)
        var off = 0
        for k in 0..<x.count {
            source[k] = off
            advance(&idx, within: outShape, from: r - 1, offset: &off, strides: st)
        }
        return x.gathered(source, shape: outShape)
    }

    static func concat(_ node: RNode, _ inputs: [RTensor?], threads: Int = 1) throws -> RTensor {
        let parts = inputs.compactMap { $0 }
        guard let first = parts.first else { throw InvalidModelError("\(node.label): Concat has no inputs") }
        let axis = try normalizeAxis(node.int("axis", 0), rank: first.rank, node)
        var outShape = first.shape
        outShape[axis] = 0
        for p in parts {
            guard p.rank == first.rank else { throw InvalidModelError("\(node.label): inputs of different rank") }
            for a in 0..<p.rank where a != axis && p.shape[a] != first.shape[a] {
                throw InvalidModelError("\(node.label): input shapes \(first.shape) and \(p.shape) differ off the axis")
            }
            outShape[axis] += p.shape[axis]
        }
        let outer = first.shape[..<axis].reduce(1, *)
        if first.isFloat && parts.allSatisfy({ $0.isFloat }) {
            // Per outer index, each part's block in turn: one vector copy per block. Each part
            // is a strided copy into the output (rows of its block, `outer` of them, one output
            // row apart), split across threads where large.
            let total = outShape.reduce(1, *)
            let row = outShape[axis...].reduce(1, *)
            let joined = [Float](unsafeUninitializedCapacity: total) { out, count in
                let op = SendablePointer(out.baseAddress!)
                var at = 0
                for p in parts {
                    let len = p.shape[axis...].reduce(1, *)
                    if len > 0 {
                        p.f.withUnsafeBufferPointer { src in
                            let sp = SendablePointer(UnsafeMutablePointer(mutating: src.baseAddress!)), start = at
                            parallelFor(outer * len, threads: total < copySplitFloats ? 1 : threads, minChunk: copyChunkFloats) { range in
                                // Floats `range` of this part: whole or partial blocks of `len`.
                                var i = range.lowerBound
                                while i < range.upperBound {
                                    let o = i / len, k = i - o * len
                                    let n = min(len - k, range.upperBound - i)
                                    copyFloats(op.p + o * row + start + k, UnsafePointer(sp.p + i), n)
                                    i += n
                                }
                            }
                        }
                    }
                    at += len
                }
                count = total
            }
            return RTensor(type: first.type, shape: outShape, f: joined)
        }
        var chunks: [RTensor] = []
        for o in 0..<outer {
            for p in parts {
                let len = p.shape[axis...].reduce(1, *)
                chunks.append(p.gathered(Array(o * len..<(o + 1) * len), shape: [len]))
            }
        }
        return RTensor.joined(chunks, type: first.type, shape: outShape)
    }

    static func split(_ node: RNode, _ inputs: [RTensor?], outputs: Int, threads: Int = 1) throws -> [RTensor] {
        let x = try required(inputs, 0, node)
        let axis = try normalizeAxis(node.int("axis", 0), rank: x.rank, node)
        let dim = x.shape[axis]
        var sizes: [Int]
        if node.opset >= 13, inputs.count > 1, let s = inputs[1] {
            sizes = s.int64s.map { Int($0) }
        } else if let s = node.ints("split") {
            sizes = s
        } else {
            let parts = node.opset >= 18 ? node.int("num_outputs", outputs) : outputs
            let chunk = (dim + parts - 1) / max(parts, 1)
            sizes = (0..<parts).map { min(chunk, max(0, dim - $0 * chunk)) }
        }
        guard sizes.reduce(0, +) == dim else { throw InvalidModelError("\(node.label): split sizes \(sizes) do not sum to \(dim)") }
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
        var results: [RTensor] = []
        var start = 0
        if x.isFloat {
            for size in sizes {
                var shape = x.shape
                shape[axis] = size
                results.append(RTensor(type: x.type, shape: shape,
                                       f: stridedCopy(x.f, offset: start * inner, shape: [outer, size * inner], strides: [dim * inner, 1], threads: threads)))
                start += size
            }
            return results
        }
        for size in sizes {
            var src: [Int] = []
            src.reserveCapacity(outer * size * inner)
            for o in 0..<outer { src.append(contentsOf: (o * dim + start) * inner..<(o * dim + start + size) * inner) }
            var shape = x.shape
            shape[axis] = size
            results.append(x.gathered(src, shape: shape))
            start += size
        }
        return results
    }

    static func slice(_ node: RNode, _ inputs: [RTensor?], threads: Int = 1) throws -> RTensor {
        let x = try required(inputs, 0, node)
        let r = x.rank
        var starts: [Int], ends: [Int], axes: [Int], steps: [Int]
        if node.opset < 10 {
            starts = node.ints("starts") ?? []
            ends = node.ints("ends") ?? []
            axes = node.ints("axes") ?? Array(0..<starts.count)
            steps = Array(repeating: 1, count: starts.count)
        } else {
            func ints(_ k: Int) -> [Int]? { inputs.count > k ? inputs[k]?.int64s.map { Int(clamping: $0) } : nil }
            starts = try ints(1) ?? { throw InvalidModelError("\(node.label): starts is required") }()
            ends = try ints(2) ?? { throw InvalidModelError("\(node.label): ends is required") }()
            axes = ints(3) ?? Array(0..<starts.count)
            steps = ints(4) ?? Array(repeating: 1, count: starts.count)
        }
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw InvalidModelError("\(node.label): starts/ends/axes/steps lengths differ")
        }
        var begin = [Int](repeating: 0, count: r), step = [Int](repeating: 1, count: r), size = x.shape
        for (k, axisRaw) in axes.enumerated() {
            let a = try normalizeAxis(axisRaw, rank: r, node)
            let d = x.shape[a]
            let s = steps[k]
            guard s != 0 else { throw InvalidModelError("\(node.label): step 0") }
            var st = starts[k], en = ends[k]
            if st < 0 { st += d }
            if en < 0 { en += d }
            if s > 0 {
                st = min(max(st, 0), d)
                en = min(max(en, 0), d)
                size[a] = max(0, (en - st + s - 1) / s)
            } else {
                st = min(max(st, -1), d - 1)
                en = min(max(en, -1), d - 1)
                size[a] = max(0, (st - en + (-s) - 1) / (-s))
            }
            begin[a] = st
            step[a] = s
        }
        let inStrides = stridesOf(x.shape)
        let count = size.reduce(1, *)
        if x.isFloat {
            let offset = (0..<r).reduce(0) { $0 + begin[$1] * inStrides[$1] }
            return RTensor(type: x.type, shape: size, f: stridedCopy(x.f, offset: offset, shape: size, strides: (0..<r).map { step[$0] * inStrides[$0] }, threads: threads))
        }
        var src = [Int](repeating: 0, count: count)
        var idx = [Int](repeating: 0, count: r)
        for k in 0..<count {
            var off = 0
            for a in 0..<r { off += (begin[a] + idx[a] * step[a]) * inStrides[a] }
            src[k] = off
            advance(&idx, within: size)
        }
        return x.gathered(src, shape: size)
    }

    static func squeeze(_ node: RNode, _ inputs: [RTensor?]) throws -> RTensor {
        let x = try required(inputs, 0, node)
        let axesRaw: [Int]? = node.opset >= 13 ? (inputs.count > 1 ? inputs[1]?.int64s.map { Int($0) } : nil) : node.ints("axes")
        if let axesRaw {
            let axes = Set(try axesRaw.map { try normalizeAxis($0, rank: x.rank, node) })
            for a in axes where x.shape[a] != 1 { throw InvalidModelError("\(node.label): cannot squeeze axis \(a) of \(x.shape)") }
            return x.reshaped(x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element))
        }
        return x.reshaped(x.shape.filter { $0 != 1 })
    }

    static func unsqueeze(_ node: RNode, _ inputs: [RTensor?]) throws -> RTensor {
        let x = try required(inputs, 0, node)
        let axesRaw: [Int] = (node.opset >= 13 ? (inputs.count > 1 ? inputs[1]?.int64s.map { Int($0) } : nil) : node.ints("axes")) ?? []
        let outRank = x.rank + axesRaw.count
        let axes = Set(try axesRaw.map { try normalizeAxis($0, rank: outRank, node) })
        guard axes.count == axesRaw.count else { throw InvalidModelError("\(node.label): repeated axes \(axesRaw)") }
        var shape: [Int] = []
        var src = x.shape.makeIterator()
        for a in 0..<outRank { shape.append(axes.contains(a) ? 1 : src.next()!) }
        return x.reshaped(shape)
    }

    static func shapeOp(_ node: RNode, _ x: RTensor) -> RTensor {
        let r = x.rank
        func clampAxis(_ v: Int) -> Int { min(max(v < 0 ? v + r : v, 0), r) }
        let start = clampAxis(node.int("start", 0))
        let end = clampAxis(node.int("end", r))
        let dims = start < end ? Array(x.shape[start..<end]) : []
        return RTensor([dims.count], ints: dims.map { Int64($0) })
    }

    static func gather(_ node: RNode, _ x: RTensor, _ indices: RTensor) throws -> RTensor {
        let axis = try normalizeAxis(node.int("axis", 0), rank: x.rank, node)
        let dim = x.shape[axis]
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
        let idx = try indices.int64s.map { v -> Int in
            let i = Int(v) < 0 ? Int(v) + dim : Int(v)
            guard i >= 0 && i < dim else { throw InvalidModelError("\(node.label): index \(v) out of range for axis of size \(dim)") }
            return i
        }
        var src: [Int] = []
        src.reserveCapacity(outer * idx.count * inner)
        for o in 0..<outer { for i in idx { src.append(contentsOf: (o * dim + i) * inner..<(o * dim + i + 1) * inner) } }
        return x.gathered(src, shape: Array(x.shape[..<axis]) + indices.shape + Array(x.shape[(axis + 1)...]))
    }

    static func expand(_ node: RNode, _ x: RTensor, _ shapeTensor: RTensor) throws -> RTensor {
        let target = shapeTensor.int64s.map { Int($0) }
        let out = try Broadcast.shape([x.shape, target], node)
        let src = Broadcast.expand(Array(0..<x.count), x.shape, to: out, zero: 0)
        return x.gathered(src, shape: out)
    }

    static func pad(_ node: RNode, _ inputs: [RTensor?]) throws -> RTensor {
        let x = try required(inputs, 0, node)
        let r = x.rank
        let mode = node.string("mode", "constant")
        var pads: [Int]
        var constant: Double = 0
        var axes = Array(0..<r)
        if node.opset < 11 {
            pads = node.ints("pads") ?? []
            constant = Double(node.float("value", 0))
        } else {
            pads = try required(inputs, 1, node).int64s.map { Int($0) }
            if inputs.count > 2, let c = inputs[2], c.count > 0 { constant = c.doubles[0] }
            if inputs.count > 3, let a = inputs[3] { axes = try a.int64s.map { try normalizeAxis(Int($0), rank: r, node) } }
        }
        guard pads.count == 2 * axes.count else { throw InvalidModelError("\(node.label): pads has \(pads.count) values for \(axes.count) axes") }
        var begin = [Int](repeating: 0, count: r), end = begin
        for (k, a) in axes.enumerated() { begin[a] = pads[k]; end[a] = pads[k + axes.count] }
        let outShape = (0..<r).map { x.shape[$0] + begin[$0] + end[$0] }
        guard outShape.allSatisfy({ $0 >= 0 }) else { throw InvalidModelError("\(node.label): pads shrink \(x.shape) below zero") }
        let inStrides = stridesOf(x.shape)
        let count = outShape.reduce(1, *)
        var src = [Int](repeating: -1, count: count)
        var idx = [Int](repeating: 0, count: r)
        for k in 0..<count {
            var off = 0
            var valid = true
            for a in 0..<r {
                var p = idx[a] - begin[a]
                let d = x.shape[a]
                if p < 0 || p >= d {
                    switch mode {
                    case "edge": p = p < 0 ? 0 : d - 1
                    case "reflect":
                        if d == 1 { p = 0 } else {
                            let period = 2 * (d - 1)
                            p = ((p % period) + period) % period
                            if p >= d { p = period - p }
                        }
                    case "wrap": p = ((p % d) + d) % d
                    default: valid = false
                    }
                }
                off += p * inStrides[a]
            }
            src[k] = valid ? off : -1
            advance(&idx, within: outShape)
        }
        var t = RTensor(type: x.type, shape: outShape)
        if x.isFloat {
            let c = Float(constant)
            t.f = src.map { $0 >= 0 ? x.f[$0] : c }
        } else if x.isString {
            t.s = src.map { $0 >= 0 ? x.s[$0] : "" }
        } else {
            let c = x.type.wrap(Int64(constant))
            t.i = src.map { $0 >= 0 ? x.i[$0] : c }
        }
        return t
    }

    static func range(_ node: RNode, _ inputs: [RTensor?]) throws -> RTensor {
        let s = try required(inputs, 0, node), l = try required(inputs, 1, node), d = try required(inputs, 2, node)
        if s.isFloat {
            let start = s.f[0], limit = l.floats[0], delta = d.floats[0]
            guard delta != 0 else { throw InvalidModelError("\(node.label): delta is 0") }
            let n = max(0, Int(Foundation.ceil(Double(limit - start) / Double(delta))))
            return RTensor(type: s.type, shape: [n], f: (0..<n).map { s.type.round(start + Float($0) * delta) })
        }
        let start = s.i[0], limit = l.i[0], delta = d.i[0]
        guard delta != 0 else { throw InvalidModelError("\(node.label): delta is 0") }
        let n = max(0, Int(Foundation.ceil(Double(limit - start) / Double(delta))))
        return RTensor([n], ints: (0..<n).map { s.type.wrap(start + Int64($0) * delta) }, type: s.type)
    }

    static func constantOfShape(_ node: RNode, _ shapeTensor: RTensor) throws -> RTensor {
        let shape = shapeTensor.int64s.map { Int($0) }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw InvalidModelError("\(node.label): negative dimension in \(shape)") }
        let value = node.tensor("value") ?? RTensor([1], floats: [0])
        let n = shape.reduce(1, *)
        var t = RTensor(type: value.type, shape: shape)
        if value.isFloat { t.f = [Float](repeating: value.f.first ?? 0, count: n) } else { t.i = [Int64](repeating: value.i.first ?? 0, count: n) }
        return t
    }

    static func constant(_ node: RNode) throws -> RTensor {
        if let t = node.tensor("value") { return t }
        switch node.attributes["value_float"] { case .float(let v): return RTensor([], floats: [v]); default: break }
        switch node.attributes["value_floats"] { case .floats(let v): return RTensor([v.count], floats: v); default: break }
        switch node.attributes["value_int"] { case .int(let v): return RTensor([], ints: [v]); default: break }
        switch node.attributes["value_ints"] { case .ints(let v): return RTensor([v.count], ints: v); default: break }
        switch node.attributes["value_string"] { case .string(let v): return RTensor(type: .string, shape: [], s: [v]); default: break }
        switch node.attributes["value_strings"] { case .strings(let v): return RTensor(type: .string, shape: [v.count], s: v); default: break }
        throw InvalidModelError("\(node.label): Constant has no supported value attribute (sparse_value is not supported)")
    }

    static func cast(_ node: RNode, _ x: RTensor) throws -> RTensor {
        guard let to = ElementType(rawValue: Int32(node.int("to", 1))), to.isReferenceSupported else {
            throw InvalidModelError("\(node.label): Cast to type \(node.int("to", 0)) is not supported by the reference backend")
        }
        return try castTensor(x, to: to, node)
    }

    static func castTensor(_ x: RTensor, to: ElementType, _ node: RNode) throws -> RTensor {
        var t = RTensor(type: to, shape: x.shape)
        if to == .string {
            if x.isString { t.s = x.s } else if x.isFloat { t.s = x.f.map { "\($0)" } } else { t.s = x.i.map { "\($0)" } }
            return t
        }
        if x.isString {
            if to.isFloatKind { t.f = x.s.map { to.round(Float($0) ?? .nan) } } else { t.i = x.s.map { to.wrap(Int64($0) ?? 0) } }
            return t
        }
        if to.isMiniFloat {
            let saturate = node.int("saturate", 1) == 1
            let mode = node.string("round_mode", "up")
            t.f = x.floats.map { MiniFloat.round($0, to, saturate: saturate, roundMode: mode) }
        } else if to.isFloatKind {
            t.f = x.isFloat ? x.f.map { to.round($0) } : x.floats.map { to.round($0) }
        } else if to == .bool {
            t.i = x.isFloat ? x.f.map { $0 != 0 ? 1 : 0 } : x.i.map { $0 != 0 ? 1 : 0 }
        } else if x.isFloat {
            t.i = x.f.map { v in
                guard v.isFinite else { return 0 }
                let d = Double(v).rounded(.towardZero)
                if to == .uint64 { return d >= 0 && d < 1.8e19 ? Int64(bitPattern: UInt64(d)) : 0 }
                return to.wrap(d > -9.2e18 && d < 9.2e18 ? Int64(d) : 0)
            }
        } else {
            t.i = x.i.map { to.wrap($0) }
        }
        return t
    }
}
