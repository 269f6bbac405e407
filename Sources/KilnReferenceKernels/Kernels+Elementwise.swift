import Foundation
import KilnCore

/// Broadcasting helpers and elementwise operators.
enum Broadcast {
    /// The numpy-style broadcast of several shapes; throws naming the node on a mismatch.
    static func shape(_ shapes: [[Int]], _ node: RNode) throws -> [Int] {
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Int](repeating: 1, count: rank)
        for s in shapes {
            let off = rank - s.count
            for (k, d) in s.enumerated() {
                let o = out[off + k]
                if o == 1 { out[off + k] = d } else if d != 1 && d != o {
                    throw InvalidModelError("\(node.label): shapes \(shapes.map { "\($0)" }.joined(separator: " and ")) do not broadcast")
                }
            }
        }
        return out
    }

    /// Element strides of `shape` aligned to `out` (0 on broadcast axes).
    static func strides(_ shape: [Int], to out: [Int]) -> [Int] {
        var st = [Int](repeating: 0, count: out.count)
        var acc = 1
        let off = out.count - shape.count
        for k in stride(from: shape.count - 1, through: 0, by: -1) {
            st[off + k] = shape[k] == 1 ? 0 : acc
            acc *= shape[k]
        }
        return st
    }

    /// Collapses adjacent axes that step alike in every operand; returns dims and per-operand strides.
    static func plan(_ shapes: [[Int]], out: [Int]) -> (dims: [Int], strides: [[Int]]) {
        let all = shapes.map { strides($0, to: out) }
        var dims: [Int] = []
        var st: [[Int]] = Array(repeating: [], count: shapes.count)
        for k in 0..<out.count where out[k] != 1 {
            if let last = dims.last {
                var merge = true
                for j in 0..<shapes.count where st[j].last! != all[j][k] * out[k] { merge = false }
                if merge {
                    dims[dims.count - 1] = last * out[k]
                    for j in 0..<shapes.count { st[j][st[j].count - 1] = all[j][k] }
                    continue
                }
            }
            dims.append(out[k])
            for j in 0..<shapes.count { st[j].append(all[j][k]) }
        }
        if dims.isEmpty {
            dims = [1]
            st = Array(repeating: [0], count: shapes.count)
        }
        return (dims, st)
    }

    /// Calls `body(outOffset, offsets, innerCount, innerStrides)` for every innermost run.
    @inline(__always)
    static func forEachRun(dims: [Int], strides: [[Int]], _ body: (Int, [Int], Int, [Int]) -> Void) {
        let r = dims.count
        let inner = dims[r - 1]
        let innerStrides = strides.map { $0[r - 1] }
        let outer = dims.dropLast().reduce(1, *)
        var idx = [Int](repeating: 0, count: max(0, r - 1))
        var offs = [Int](repeating: 0, count: strides.count)
        for o in 0..<outer {
            body(o * inner, offs, inner, innerStrides)
            var k = r - 2
            while k >= 0 {
                idx[k] += 1
                for j in 0..<strides.count { offs[j] += strides[j][k] }
                if idx[k] < dims[k] { break }
                for j in 0..<strides.count { offs[j] -= strides[j][k] * dims[k] }
                idx[k] = 0
                k -= 1
            }
        }
    }

    /// An arithmetic op for `fast`, on 8 lanes and on one float (the same IEEE operation).
    protocol VectorOp {
        /// The op on 8 lanes.
        static func apply(_ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float>
        /// The op on one float (the vector loops' tails).
        static func apply(_ x: Float, _ y: Float) -> Float
    }
    /// x + y.
    enum Add: VectorOp {
        @inline(__always) static func apply(_ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> { x + y }
        @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { x + y }
    }
    /// x − y.
    enum Sub: VectorOp {
        @inline(__always) static func apply(_ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> { x - y }
        @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { x - y }
    }
    /// x · y.
    enum Mul: VectorOp {
        @inline(__always) static func apply(_ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> { x * y }
        @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { x * y }
    }
    /// x / y.
    enum Div: VectorOp {
        @inline(__always) static func apply(_ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> { x / y }
        @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { x / y }
    }

    /// Whether `fast` handles these shapes: equal shapes (residual Add), a single value with
    /// a tensor of at least its rank (a scale or shift by a constant), or N×C×H×W with N×C×1×1
    /// in either order (squeeze-excite scaling).
    static func hasFastPath(_ sa: [Int], _ sb: [Int]) -> Bool {
        if sa == sb { return true }
        let ca = sa.reduce(1, *), cb = sb.reduce(1, *)
        if (cb == 1 && sb.count <= sa.count && ca > 0) || (ca == 1 && sa.count <= sb.count && cb > 0) { return true }
        guard sa.count == 4, sb.count == 4, sa[0] == sb[0], sa[1] == sb[1] else { return false }
        return (sb[2] == 1 && sb[3] == 1) || (sa[2] == 1 && sa[3] == 1)
    }

    /// `O` over the shapes `hasFastPath` accepts, 8 lanes at a time: no per-element closure
    /// call (the generic `floats` path calls its closure for every element). Large tensors are
    /// split across `threads` in runs of at least 32 Ki floats.
    static func fast<O: VectorOp>(_: O.Type, _ a: [Float], _ sa: [Int], _ b: [Float], _ sb: [Int], threads: Int = 1) -> ([Int], [Float]) {
        let outShape = a.count != b.count ? (a.count > b.count ? sa : sb) : (sa.count >= sb.count ? sa : sb)
        let n = max(a.count, b.count)
        if n == 0 || min(a.count, b.count) == 0 { return (outShape, []) }
        // Equal sizes, or one operand holding a value per block of `plane` floats of the other.
        let equal = a.count == b.count
        let plane = equal ? n : n / min(a.count, b.count)
        let aIsPlane = a.count < b.count
        let result = [Float](unsafeUninitializedCapacity: n) { r, count in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    let xs = SendablePointer(UnsafeMutablePointer(mutating: pa.baseAddress!))
                    let ys = SendablePointer(UnsafeMutablePointer(mutating: pb.baseAddress!)), zs = SendablePointer(r.baseAddress!)
                    parallelFor(n, threads: threads, minChunk: 32768) { range in
                        let x = xs.p, y = ys.p, z = zs.p
                        let rx = UnsafeRawPointer(x), ry = UnsafeRawPointer(y), rz = UnsafeMutableRawPointer(z)
                        if equal {
                            var k = range.lowerBound
                            while k &+ 8 <= range.upperBound {
                                let v = O.apply(rx.loadUnaligned(fromByteOffset: k &* 4, as: SIMD8<Float>.self),
                                                ry.loadUnaligned(fromByteOffset: k &* 4, as: SIMD8<Float>.self))
                                rz.storeBytes(of: v, toByteOffset: k &* 4, as: SIMD8<Float>.self)
                                k &+= 8
                            }
                            while k < range.upperBound { z[k] = O.apply(x[k], y[k]); k &+= 1 }
                            return
                        }
                        // The blocks the range touches, each against its one value.
                        var start = range.lowerBound
                        while start < range.upperBound {
                            let p = start / plane
                            let end = min(range.upperBound, (p &+ 1) &* plane)
                            let s = aIsPlane ? x[p] : y[p], sv = SIMD8<Float>(repeating: s)
                            let full = aIsPlane ? ry : rx, fp = aIsPlane ? y : x
                            var k = start
                            while k &+ 8 <= end {
                                let f = full.loadUnaligned(fromByteOffset: k &* 4, as: SIMD8<Float>.self)
                                rz.storeBytes(of: aIsPlane ? O.apply(sv, f) : O.apply(f, sv), toByteOffset: k &* 4, as: SIMD8<Float>.self)
                                k &+= 8
                            }
                            while k < end {
                                z[k] = aIsPlane ? O.apply(s, fp[k]) : O.apply(fp[k], s)
                                k &+= 1
                            }
                            start = end
                        }
                    }
                }
            }
            count = n
        }
        return (outShape, result)
    }

    /// Applies a binary float function with broadcasting.
    @inline(__always)
    static func floats(_ a: [Float], _ sa: [Int], _ b: [Float], _ sb: [Int], _ node: RNode,
                       _ op: (Float, Float) -> Float) throws -> ([Int], [Float]) {
        if sa == sb && a.count == b.count {
            // Same shapes (residual Add): one flat loop the compiler vectorises.
            let n = a.count
            let result = [Float](unsafeUninitializedCapacity: n) { r, count in
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        for k in 0..<n { r[k] = op(pa[k], pb[k]) }
                    }
                }
                count = n
            }
            return (sa, result)
        }
        if sa.count == 4 && sb.count == 4 && sa[0] == sb[0] && sa[1] == sb[1] && sb[2] == 1 && sb[3] == 1 && sa[2] * sa[3] > 1 {
            // N×C×H×W with N×C×1×1 (squeeze-excite scaling): a scalar per plane, a vector loop per plane.
            let plane = sa[2] * sa[3], n = a.count
            let result = [Float](unsafeUninitializedCapacity: n) { r, count in
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        for p in 0..<pb.count {
                            let bv = pb[p], base = p * plane
                            for k in 0..<plane { r[base + k] = op(pa[base + k], bv) }
                        }
                    }
                }
                count = n
            }
            return (sa, result)
        }
        let out = try shape([sa, sb], node)
        let n = out.reduce(1, *)
        var result = [Float](repeating: 0, count: n)
        if n == 0 { return (out, result) }
        let p = plan([sa, sb], out: out)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                result.withUnsafeMutableBufferPointer { pr in
                    forEachRun(dims: p.dims, strides: p.strides) { o, offs, count, st in
                        let a0 = offs[0], b0 = offs[1]
                        if st[0] == 1 && st[1] == 1 {
                            for k in 0..<count { pr[o + k] = op(pa[a0 + k], pb[b0 + k]) }
                        } else if st[0] == 1 {
                            let bv = pb[b0]
                            for k in 0..<count { pr[o + k] = op(pa[a0 + k], bv) }
                        } else if st[1] == 1 {
                            let av = pa[a0]
                            for k in 0..<count { pr[o + k] = op(av, pb[b0 + k]) }
                        } else {
                            let v = op(pa[a0], pb[b0])
                            for k in 0..<count { pr[o + k] = v }
                        }
                    }
                }
            }
        }
        return (out, result)
    }

    /// Applies a binary function on any element arrays with broadcasting (generic, slower path).
    static func generic<A, B, R>(_ a: [A], _ sa: [Int], _ b: [B], _ sb: [Int], _ node: RNode, zero: R,
                                 _ op: (A, B) throws -> R) throws -> ([Int], [R]) {
        let out = try shape([sa, sb], node)
        let n = out.reduce(1, *)
        var result = [R](repeating: zero, count: n)
        if n == 0 { return (out, result) }
        let p = plan([sa, sb], out: out)
        var failure: Error?
        forEachRun(dims: p.dims, strides: p.strides) { o, offs, count, st in
            for k in 0..<count {
                do { result[o + k] = try op(a[offs[0] + k * st[0]], b[offs[1] + k * st[1]]) } catch { failure = error }
            }
        }
        if let failure { throw failure }
        return (out, result)
    }

    /// Expands `values` of `shape` to `out` (which `shape` broadcasts to).
    static func expand<T>(_ values: [T], _ shape: [Int], to out: [Int], zero: T) -> [T] {
        let n = out.reduce(1, *)
        var result = [T](repeating: zero, count: n)
        if n == 0 { return result }
        let p = plan([shape], out: out)
        forEachRun(dims: p.dims, strides: p.strides) { o, offs, count, st in
            for k in 0..<count { result[o + k] = values[offs[0] + k * st[0]] }
        }
        return result
    }
}

/// An activation on 8 lanes, as a type, so kernels generic over it are
/// specialised per activation and apply it in registers. Each lane computes what the ONNX operator's
/// scalar definition does (the piecewise ones with the same selects, NaN included).
protocol VectorActivation {
    /// The activation of 8 lanes.
    func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float>
}

/// The piecewise-linear activations as `VectorActivation` types.
enum VectorActivations {}

extension VectorActivations {
    /// max(0, min(1, u)) as the scalar selects compute it: `u < 1 ? u : 1`, then `m >= 0 ? m : 0`.
    @inline(__always)
    static func unitClamp(_ u: SIMD8<Float>) -> SIMD8<Float> {
        let m = SIMD8<Float>(repeating: 1).replacing(with: u, where: u .< 1)
        return SIMD8<Float>(repeating: 0).replacing(with: m, where: m .>= 0)
    }

    /// No activation.
    struct Identity: VectorActivation {
        @inline(__always) func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> { v }
    }

    /// max(x, 0).
    struct Relu: VectorActivation {
        @inline(__always) func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> { v.replacing(with: 0, where: v .<= 0) }
    }

    /// x < 0 ? αx : x.
    struct LeakyRelu: VectorActivation {
        /// The slope for negative inputs.
        var alpha: Float
        @inline(__always) func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> { v.replacing(with: v * alpha, where: v .< 0) }
    }

    /// min(max(x, lo), hi).
    struct Clip: VectorActivation {
        /// The bounds.
        var lo: Float, hi: Float
        @inline(__always) func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> {
            let t = v.replacing(with: lo, where: v .<= lo)
            return t.replacing(with: hi, where: t .> hi)
        }
    }

    /// max(0, min(1, αx + β)).
    struct HardSigmoid: VectorActivation {
        /// Slope and offset.
        var alpha: Float, beta: Float
        @inline(__always) func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> { unitClamp(alpha * v + beta) }
    }

    /// x · max(0, min(1, x/6 + 1/2)).
    struct HardSwish: VectorActivation {
        @inline(__always) func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> { v * unitClamp(v * (1 / 6) + 0.5) }
    }

    /// 1 / (1 + e^−x) (`VectorMath.logistic`).
    struct Sigmoid: VectorActivation {
        @inline(__always) func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> { VectorMath.logistic(v) }
    }

    /// x / (1 + e^−x) (SiLU).
    struct Swish: VectorActivation {
        @inline(__always) func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> { v * VectorMath.logistic(v) }
    }
}

/// The activation a convolution or GEMM may apply to its output in place.
enum Activation: Sendable, Equatable {
    case none
    case relu
    case leakyRelu(Float)
    case clip(Float, Float)
    case sigmoid
    case hardSigmoid(Float, Float)
    case hardSwish
    case swish

    /// Applies the activation to `n` floats in place, 8 lanes at a time
    /// (`VectorActivations`; a row's tail as one partial vector).
    @inline(__always)
    func apply(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        apply(p, rows: 1, cols: n, ld: n)
    }

    /// Applies the activation to a `rows`×`cols` block with row stride `ld` (a GEMM tile): one
    /// call and one switch per block, each case a vector loop specialised for its activation.
    @inline(__always)
    func apply(_ p: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int) {
        switch self {
        case .none: return
        case .relu: Self.block(p, rows, cols, ld, VectorActivations.Relu())
        case .leakyRelu(let a): Self.block(p, rows, cols, ld, VectorActivations.LeakyRelu(alpha: a))
        case .clip(let lo, let hi): Self.block(p, rows, cols, ld, VectorActivations.Clip(lo: lo, hi: hi))
        case .hardSigmoid(let a, let b): Self.block(p, rows, cols, ld, VectorActivations.HardSigmoid(alpha: a, beta: b))
        case .hardSwish: Self.block(p, rows, cols, ld, VectorActivations.HardSwish())
        case .sigmoid: Self.block(p, rows, cols, ld, VectorActivations.Sigmoid())
        case .swish: Self.block(p, rows, cols, ld, VectorActivations.Swish())
        }
    }

    /// The body of the block `apply`, specialised per activation: the row's tail runs as one
    /// partial vector, so every element takes the same arithmetic (Sigmoid's and Swish's
    /// polynomial included) wherever it sits in the row.
    @inline(never)
    private static func block<A: VectorActivation>(_ p: UnsafeMutablePointer<Float>, _ rows: Int, _ cols: Int, _ ld: Int, _ act: A) {
        for r in 0..<rows {
            let row = p + r &* ld
            let raw = UnsafeMutableRawPointer(row)
            var i = 0
            while i &+ 8 <= cols {
                raw.storeBytes(of: act(raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)), toByteOffset: i &* 4, as: SIMD8<Float>.self)
                i &+= 8
            }
            if i < cols {
                var v = SIMD8<Float>()
                for l in 0..<(cols &- i) { v[l] = row[i &+ l] }
                v = act(v)
                for l in 0..<(cols &- i) { row[i &+ l] = v[l] }
            }
        }
    }
}

extension ReferenceKernels {
    /// Unary float ops (Relu, Sigmoid, Tanh, …) applied elementwise.
    static func unary(_ node: RNode, _ x: RTensor, threads: Int) throws -> RTensor {
        guard x.isFloat else {
            if node.op == .relu || node.op == .identity {
                var y = x
                if node.op == .relu { y.i = x.i.map { max($0, 0) } }
                return y
            }
            throw InvalidModelError("\(node.label): input type \(x.type) is not supported (float types only)")
        }
        var y = x
        let op = node.op
        let n = x.f.count
        y.f.withUnsafeMutableBufferPointer { buf in
            let p = SendablePointer(buf.baseAddress!)
            parallelFor(n, threads: threads, minChunk: 16384) { range in
                let q = p.p
                switch op {
                case .relu: Activation.relu.apply(q + range.lowerBound, range.count)
                case .leakyRelu: Activation.leakyRelu(node.float("alpha", 0.01)).apply(q + range.lowerBound, range.count)
                case .sigmoid: Activation.sigmoid.apply(q + range.lowerBound, range.count)
                case .hardSigmoid:
                    Activation.hardSigmoid(node.float("alpha", 0.2), node.float("beta", 0.5)).apply(q + range.lowerBound, range.count)
                case .hardSwish: Activation.hardSwish.apply(q + range.lowerBound, range.count)
                case .tanh: for k in range { q[k] = Foundation.tanh(q[k]) }
                case .erf: for k in range { q[k] = Foundation.erf(q[k]) }
                case .sqrt: for k in range { q[k] = q[k].squareRoot() }
                case .exp: for k in range { q[k] = Foundation.exp(q[k]) }
                default: break
                }
            }
        }
        if x.type != .float32 { y.f = y.f.map { x.type.round($0) } }
        return y
    }

    /// Clip with attribute bounds (opset < 11) or optional min/max inputs (opset ≥ 11); any numeric type.
    static func clip(_ node: RNode, _ inputs: [RTensor?]) throws -> RTensor {
        let x = try required(inputs, 0, node)
        var lo: Double = -.infinity, hi: Double = .infinity
        if node.opset < 11 {
            lo = Double(node.float("min", -.infinity))
            hi = Double(node.float("max", .infinity))
        } else {
            if inputs.count > 1, let m = inputs[1], m.count > 0 { lo = m.doubles[0] }
            if inputs.count > 2, let m = inputs[2], m.count > 0 { hi = m.doubles[0] }
        }
        var y = x
        if x.isFloat {
            let l = Float(lo), h = Float(hi)
            y.f = x.f.map { min(max($0, l), h) }
        } else {
            let l = lo.isInfinite ? Int64.min : Int64(lo), h = hi.isInfinite ? Int64.max : Int64(hi)
            y.i = x.i.map { min(max($0, l), h) }
        }
        return y
    }

    /// Add, Sub, Mul, Div, Pow, PRelu, Equal with numpy broadcasting; integer types are exact.
    static func binary(_ node: RNode, _ a: RTensor, _ b: RTensor, threads: Int = 1) throws -> RTensor {
        let op = node.op
        if op == .equal {
            if a.isString || b.isString {
                let (shape, r) = try Broadcast.generic(a.s, a.shape, b.s, b.shape, node, zero: Int64(0)) { $0 == $1 ? 1 : 0 }
                return RTensor(shape, ints: r, type: .bool)
            }
            if a.isFloat || b.isFloat {
                let (shape, r) = try Broadcast.floats(a.floats, a.shape, b.floats, b.shape, node) { $0 == $1 ? 1 : 0 }
                return RTensor(shape, ints: r.map { Int64($0) }, type: .bool)
            }
            let (shape, r) = try Broadcast.generic(a.i, a.shape, b.i, b.shape, node, zero: Int64(0)) { $0 == $1 ? 1 : 0 }
            return RTensor(shape, ints: r, type: .bool)
        }
        if op == .pow {
            // Output has the base's type.
            if a.isFloat {
                if b.isFloat && b.count == 1 && b.f[0] == 2 && b.rank <= a.rank {
                    // x² (LayerNorm's variance): the product is the correctly rounded square, as pow's is.
                    let (shape, r) = Broadcast.fast(Broadcast.Mul.self, a.f, a.shape, a.f, a.shape, threads: threads)
                    return RTensor(type: a.type, shape: shape, f: a.type == .float32 ? r : r.map { a.type.round($0) })
                }
                if b.isFloat {
                    let (shape, r) = try Broadcast.floats(a.f, a.shape, b.f, b.shape, node) { Foundation.pow($0, $1) }
                    return RTensor(type: a.type, shape: shape, f: r.map { a.type.round($0) })
                }
                let (shape, r) = try Broadcast.generic(a.f, a.shape, b.doubles, b.shape, node, zero: Float(0)) {
                    Float(Foundation.pow(Double($0), $1))
                }
                return RTensor(type: a.type, shape: shape, f: r)
            }
            let (shape, r) = try Broadcast.generic(a.i, a.shape, b.doubles, b.shape, node, zero: Int64(0)) { x, e in
                let v = Foundation.pow(Double(x), e)
                return v.isFinite && abs(v) < 9.2e18 ? Int64(v) : 0
            }
            return RTensor(shape, ints: r.map { a.type.wrap($0) }, type: a.type)
        }
        if a.isFloat && b.isFloat {
            let (shape, r): ([Int], [Float])
            switch op {
            case .add where Broadcast.hasFastPath(a.shape, b.shape): (shape, r) = Broadcast.fast(Broadcast.Add.self, a.f, a.shape, b.f, b.shape, threads: threads)
            case .sub where Broadcast.hasFastPath(a.shape, b.shape): (shape, r) = Broadcast.fast(Broadcast.Sub.self, a.f, a.shape, b.f, b.shape, threads: threads)
            case .mul where Broadcast.hasFastPath(a.shape, b.shape): (shape, r) = Broadcast.fast(Broadcast.Mul.self, a.f, a.shape, b.f, b.shape, threads: threads)
            case .div where Broadcast.hasFastPath(a.shape, b.shape): (shape, r) = Broadcast.fast(Broadcast.Div.self, a.f, a.shape, b.f, b.shape, threads: threads)
            case .add: (shape, r) = try Broadcast.floats(a.f, a.shape, b.f, b.shape, node, +)
            case .sub: (shape, r) = try Broadcast.floats(a.f, a.shape, b.f, b.shape, node, -)
            case .mul: (shape, r) = try Broadcast.floats(a.f, a.shape, b.f, b.shape, node, *)
            case .div: (shape, r) = try Broadcast.floats(a.f, a.shape, b.f, b.shape, node, /)
            case .pRelu: (shape, r) = try Broadcast.floats(a.f, a.shape, b.f, b.shape, node) { $0 < 0 ? $0 * $1 : $0 }
            default: throw InvalidModelError("\(node.label): unknown binary op")
            }
            return RTensor(type: a.type, shape: shape, f: a.type == .float32 ? r : r.map { a.type.round($0) })
        }
        guard !a.isFloat && !b.isFloat else {
            throw InvalidModelError("\(node.label): mixed input types \(a.type) and \(b.type)")
        }
        let t = a.type
        let unsigned64 = t == .uint64
        let (shape, r) = try Broadcast.generic(a.i, a.shape, b.i, b.shape, node, zero: Int64(0)) { x, y -> Int64 in
            switch op {
            case .add: return x &+ y
            case .sub: return x &- y
            case .mul: return x &* y
            case .div:
                guard y != 0 else { throw InvalidModelError("\(node.label): integer division by zero") }
                if unsigned64 { return Int64(bitPattern: UInt64(bitPattern: x) / UInt64(bitPattern: y)) }
                return x / y
            case .pRelu: return x < 0 ? x &* y : x
            default: throw InvalidModelError("\(node.label): unknown binary op")
            }
        }
        return RTensor(shape, ints: r.map { t.wrap($0) }, type: t)
    }

    /// Where(condition, X, Y) with three-way broadcasting.
    static func whereOp(_ node: RNode, _ c: RTensor, _ x: RTensor, _ y: RTensor) throws -> RTensor {
        let out = try Broadcast.shape([c.shape, x.shape, y.shape], node)
        let cond = Broadcast.expand(c.i.isEmpty ? c.f.map { $0 != 0 ? 1 : 0 } : c.i, c.shape, to: out, zero: Int64(0))
        if x.isFloat {
            let xv = Broadcast.expand(x.f, x.shape, to: out, zero: Float(0))
            let yv = Broadcast.expand(y.floats, y.shape, to: out, zero: Float(0))
            return RTensor(type: x.type, shape: out, f: (0..<cond.count).map { cond[$0] != 0 ? xv[$0] : yv[$0] })
        }
        if x.isString {
            let xv = Broadcast.expand(x.s, x.shape, to: out, zero: "")
            let yv = Broadcast.expand(y.s, y.shape, to: out, zero: "")
            return RTensor(type: .string, shape: out, s: (0..<cond.count).map { cond[$0] != 0 ? xv[$0] : yv[$0] })
        }
        let xv = Broadcast.expand(x.i, x.shape, to: out, zero: Int64(0))
        let yv = Broadcast.expand(y.i, y.shape, to: out, zero: Int64(0))
        return RTensor(type: x.type, shape: out, i: (0..<cond.count).map { cond[$0] != 0 ? xv[$0] : yv[$0] })
    }
}
