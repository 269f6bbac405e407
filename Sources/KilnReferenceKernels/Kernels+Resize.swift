import Foundation
import KilnCore

extension ReferenceKernels {
    /// Resize (opset 10–19+) and Upsample, separably one axis at a time, as ONNX's reference does.
    static func resize(_ node: RNode, _ inputs: [RTensor?]) throws -> RTensor {
        let x = try required(inputs, 0, node)
        guard x.isFloat || !x.isString else { throw InvalidModelError("\(node.label): string tensors cannot be resized") }
        let r = x.rank
        var mode = node.string("mode", "nearest")
        var ctm = node.string("coordinate_transformation_mode", "half_pixel")
        var nearestMode = node.string("nearest_mode", "round_prefer_floor")
        var scalesIn: [Double]? = nil, sizesIn: [Int]? = nil, roiIn: [Double]? = nil
        if node.op == .upsample || node.opset < 11 {
            if node.op == .upsample && node.opset < 9 {
                scalesIn = node.floats("scales")?.map(Double.init)
            } else {
                scalesIn = try required(inputs, 1, node).doubles
            }
            ctm = "asymmetric"
            if mode == "nearest" { nearestMode = "floor" }
            if mode == "bilinear" { mode = "linear" }
        } else {
            if inputs.count > 1, let roi = inputs[1], roi.count > 0 { roiIn = roi.doubles }
            if inputs.count > 2, let s = inputs[2], s.count > 0 { scalesIn = s.doubles }
            if inputs.count > 3, let s = inputs[3], s.count > 0 { sizesIn = s.int64s.map { Int($0) } }
        }
        let axes = try (node.ints("axes") ?? Array(0..<r)).map { try normalizeAxis($0, rank: r, node) }
        var scales = [Double](repeating: 1, count: r)
        var sizes = x.shape
        var roi = [Double](repeating: 0, count: r) + [Double](repeating: 1, count: r)
        if let roiIn {
            guard roiIn.count == 2 * axes.count else { throw InvalidModelError("\(node.label): roi has \(roiIn.count) values for \(axes.count) axes") }
            for (k, a) in axes.enumerated() { roi[a] = roiIn[k]; roi[a + r] = roiIn[k + axes.count] }
        }
        if let sizesIn {
            guard sizesIn.count == axes.count else { throw InvalidModelError("\(node.label): sizes has \(sizesIn.count) values for \(axes.count) axes") }
            for (k, a) in axes.enumerated() {
                sizes[a] = sizesIn[k]
                scales[a] = Double(sizesIn[k]) / Double(x.shape[a])
            }
            let policy = node.string("keep_aspect_ratio_policy", "stretch")
            if policy != "stretch" {
                let chosen = axes.map { scales[$0] }
                let s = policy == "not_larger" ? chosen.min()! : chosen.max()!
                for a in axes {
                    scales[a] = s
                    sizes[a] = Int(s * Double(x.shape[a]) + 0.5)
                }
            }
        } else if let scalesIn {
            guard scalesIn.count == axes.count else { throw InvalidModelError("\(node.label): scales has \(scalesIn.count) values for \(axes.count) axes") }
            for (k, a) in axes.enumerated() {
                scales[a] = scalesIn[k]
                sizes[a] = Int(scalesIn[k] * Double(x.shape[a]))
            }
        } else {
            throw InvalidModelError("\(node.label): Resize needs scales or sizes")
        }
        let antialias = node.int("antialias", 0) == 1
        let a = Double(node.float("cubic_coeff_a", -0.75))
        let excludeOutside = node.int("exclude_outside", 0) == 1
        let extrapolation = Double(node.float("extrapolation_value", 0))

        /// Per output coordinate along `axis` (`inW` → `outW`): neighbour indices with their
        /// weights, and whether it lies outside the input (tf_crop_and_resize's extrapolation).
        func axisTaps(_ axis: Int, inW: Int, outW: Int) throws -> (taps: [[(Int, Double)]], extrapolated: [Bool]) {
            let scale = scales[axis]
            let outWidth = scale * Double(inW)
            var taps: [[(Int, Double)]] = []
            var extrapolated: [Bool] = []
            for y in 0..<outW {
                let yd = Double(y)
                var xo: Double
                var extra = false
                switch ctm {
                case "align_corners": xo = outWidth == 1 ? 0 : yd * Double(inW - 1) / (outWidth - 1)
                case "asymmetric": xo = yd / scale
                case "tf_crop_and_resize":
                    let r0 = roi[axis], r1 = roi[axis + r]
                    xo = outWidth == 1 ? (r1 - r0) * Double(inW - 1) / 2 : yd * (r1 - r0) * Double(inW - 1) / (outWidth - 1)
                    xo += r0 * Double(inW - 1)
                    extra = xo < 0 || xo > Double(inW - 1)
                case "pytorch_half_pixel": xo = outWidth == 1 ? -0.5 : (yd + 0.5) / scale - 0.5
                case "half_pixel": xo = (yd + 0.5) / scale - 0.5
                case "half_pixel_symmetric":
                    let adjustment = Double(outW) / outWidth
                    let offset = Double(inW) / 2 * (1 - adjustment)
                    xo = offset + (yd + 0.5) / scale - 0.5
                default: throw InvalidModelError("\(node.label): coordinate_transformation_mode \(ctm) is not supported")
                }
                let xi = Foundation.floor(xo)
                let ratio = xo == xi ? 1.0 : xo - xi
                var coeffs: [Double]
                switch mode {
                case "nearest":
                    if ratio == 1 { coeffs = [0, 1] } else {
                        switch nearestMode {
                        case "round_prefer_floor": coeffs = ratio <= 0.5 ? [1, 0] : [0, 1]
                        case "round_prefer_ceil": coeffs = ratio < 0.5 ? [1, 0] : [0, 1]
                        case "floor": coeffs = [1, 0]
                        case "ceil": coeffs = [0, 1]
                        default: throw InvalidModelError("\(node.label): nearest_mode \(nearestMode) is not supported")
                        }
                    }
                case "linear":
                    if antialias {
                        let s = min(scale, 1)
                        let start = Int(Foundation.floor(-1 / s) + 1)
                        let footprint = 2 - 2 * start
                        coeffs = (0..<footprint).map { max(0, min(1, 1 - abs((Double(start + $0) - ratio) * s))) }
                        let total = coeffs.reduce(0, +)
                        coeffs = coeffs.map { $0 / total }
                    } else {
                        coeffs = [1 - ratio, ratio]
                    }
                case "cubic":
                    if antialias {
                        let s = min(scale, 1)
                        func w(_ v: Double) -> Double {
                            let t = abs(v), t2 = t * t, t3 = t2 * t
                            if t <= 1 { return (a + 2) * t3 - (a + 3) * t2 + 1 }
                            if t < 2 { return a * t3 - 5 * a * t2 + 8 * a * t - 4 * a }
                            return 0
                        }
                        let iStart = Int(Foundation.floor(-2 / s) + 1)
                        let iEnd = 2 - iStart
                        coeffs = (iStart..<iEnd).map { w(s * (Double($0) - ratio)) }
                        let total = coeffs.reduce(0, +)
                        coeffs = coeffs.map { $0 / total }
                    } else {
                        let q = 1 - ratio
                        coeffs = [
                            ((a * (ratio + 1) - 5 * a) * (ratio + 1) + 8 * a) * (ratio + 1) - 4 * a,
                            ((a + 2) * ratio - (a + 3)) * ratio * ratio + 1,
                            ((a + 2) * q - (a + 3)) * q * q + 1,
                            ((a * (q + 1) - 5 * a) * (q + 1) + 8 * a) * (q + 1) - 4 * a,
                        ]
                    }
                default: throw InvalidModelError("\(node.label): mode \(mode) is not supported")
                }
                let n = coeffs.count
                let padWidth = (n + 1) / 2
                let xp = xo + Double(padWidth)
                let p = Int(Foundation.floor(xp))
                let frac = xp - Double(p)
                let offset: Int
                if n % 2 == 0 { offset = frac == 0 ? -(n / 2) : -(n / 2) + 1 } else {
                    let base = -((n - 1) / 2)
                    offset = frac <= 0.5 ? base : base + 1
                }
                let start = p + offset - padWidth
                var idx = (0..<n).map { start + $0 }
                if excludeOutside {
                    for k in 0..<n where idx[k] < 0 || idx[k] >= inW { coeffs[k] = 0 }
                    var total = coeffs.reduce(0, +)
                    if total == 0 { total = 1 }
                    coeffs = coeffs.map { $0 / total }
                }
                idx = idx.map { min(max($0, 0), inW - 1) }
                taps.append(Array(zip(idx, coeffs)))
                extrapolated.append(extra)
            }
            return (taps, extrapolated)
        }
        /// Whether `axis` keeps its size and coordinates (no resampling along it).
        func unchanged(_ axis: Int) -> Bool {
            abs(scales[axis] - 1) < 1e-9 && sizes[axis] == x.shape[axis] && abs(roi[axis]) < 1e-9 && abs(roi[axis + r] - 1) < 1e-9
        }
        if mode == "nearest", x.isFloat, x.rank >= 1, Set(axes).count == axes.count,
            let tables = try nearestTables(axes: axes.filter { !unchanged($0) }, shape: x.shape, sizes: sizes, axisTaps) {
            return RTensor(type: x.type, shape: sizes, f: gatherNearest(x.f, shape: x.shape, sizes: sizes, tables: tables))
        }
        var data = x.doubles
        var shape = x.shape
        for axis in axes {
            let outW = sizes[axis]
            let inW = shape[axis]
            if unchanged(axis) { continue }
            let (taps, extrapolated) = try axisTaps(axis, inW: inW, outW: outW)
            let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
            var next = [Double](repeating: 0, count: outer * outW * inner)
            for o in 0..<outer {
                for y in 0..<outW {
                    let dst = (o * outW + y) * inner
                    if extrapolated[y] {
                        for k in 0..<inner { next[dst + k] = extrapolation }
                        continue
                    }
                    for (i, c) in taps[y] where c != 0 {
                        let src = (o * inW + i) * inner
                        for k in 0..<inner { next[dst + k] += c * data[src + k] }
                    }
                }
            }
            data = next
            shape[axis] = outW
        }
        if x.isFloat { return RTensor(type: x.type, shape: shape, f: data.map { x.type.round(Float($0)) }) }
        return RTensor(shape, ints: data.map { x.type.wrap(Int64($0.rounded())) }, type: x.type)
    }

    /// For nearest resizing along `axes`: each axis's source index per output coordinate (nil
    /// for axes left as they are), from `axisTaps`; nil when some output takes no single input
    /// value (an extrapolated or excluded coordinate), which the separable path handles.
    static func nearestTables(axes: [Int], shape: [Int], sizes: [Int],
                              _ axisTaps: (Int, Int, Int) throws -> (taps: [[(Int, Double)]], extrapolated: [Bool])) throws -> [[Int]?]? {
        var tables = [[Int]?](repeating: nil, count: shape.count)
        for axis in axes {
            let (taps, extrapolated) = try axisTaps(axis, shape[axis], sizes[axis])
            var table: [Int] = []
            table.reserveCapacity(taps.count)
            for (y, tap) in taps.enumerated() {
                let chosen = tap.filter { $0.1 != 0 }
                guard !extrapolated[y], chosen.count == 1, chosen[0].1 == 1 else { return nil }
                table.append(chosen[0].0)
            }
            tables[axis] = table
        }
        return tables
    }

    /// Nearest resizing as a gather: output element (i₀, i₁, …) is input element
    /// (t₀[i₀], t₁[i₁], …), with `tables` from `nearestTables`. An output row whose source row is
    /// the previous output row's is copied from it.
    static func gatherNearest(_ x: [Float], shape: [Int], sizes: [Int], tables: [[Int]?]) -> [Float] {
        let r = shape.count
        let total = sizes.reduce(1, *)
        if total == 0 { return [] }
        let inStrides = stridesOf(shape)
        let table = (0..<r).map { a in tables[a] ?? Array(0..<sizes[a]) }
        let inner = sizes[r - 1], last = table[r - 1]
        let identityRow = tables[r - 1] == nil
        return [Float](unsafeUninitializedCapacity: total) { out, count in
            x.withUnsafeBufferPointer { src in
                let xp = src.baseAddress!, op = out.baseAddress!
                let outer = Array(sizes.dropLast())
                var idx = [Int](repeating: 0, count: outer.count)
                var previous = -1
                for row in 0..<(total / inner) {
                    var base = 0
                    for a in 0..<(r - 1) { base += table[a][idx[a]] * inStrides[a] }
                    let dst = op + row * inner
                    if base == previous {
                        copyFloats(dst, dst - inner, inner)
                    } else if identityRow {
                        copyFloats(dst, xp + base, inner)
                    } else {
                        let s = xp + base
                        for k in 0..<inner { dst[k] = s[last[k]] }
                    }
                    previous = base
                    advance(&idx, within: outer)
                }
            }
            count = total
        }
    }
}
