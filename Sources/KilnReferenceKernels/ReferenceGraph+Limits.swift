import KilnCore

extension ReferenceKernels {
    /// Refuses a node whose output would be impossible or beyond `budget`, before its kernel allocates.
    ///
    /// Covers the ops whose output size comes from input *values* rather than input sizes
    /// (ConstantOfShape, Range, Expand, Resize/Upsample, Pad, Reshape) and the window ops whose
    /// attributes can inflate or empty their output (Conv, pools). Runs at build (shape inference
    /// and constant folding execute the graph) and at every inference, so a value computed at run
    /// time is bounded too. Other ops produce outputs no larger than their inputs' product.
    static func checkLimits(_ node: RNode, _ inputs: [RTensor?], budget: TensorBudget) throws {
        let fix = "fix the model (this node's output would not fit in memory)"
        func input(_ k: Int) -> RTensor? { k < inputs.count ? inputs[k] : nil }
        func dims(_ t: RTensor) -> [Int] { t.int64s.map { Int(clamping: $0) } }
        switch node.op {
        case .constantOfShape:
            guard let s = input(0) else { return }
            try budget.check(dims(s), subject: node.label, fix: fix)
        case .range:
            guard let s = input(0), let l = input(1), let d = input(2), s.count > 0, l.count > 0, d.count > 0 else { return }
            let start = s.doubles[0], limit = l.doubles[0], delta = d.doubles[0]
            guard delta != 0, delta.isFinite, start.isFinite, limit.isFinite else {
                throw ModelLimitError(node.label, "Range(\(start), \(limit), \(delta)) never ends", fix: "use finite bounds and a non-zero delta")
            }
            let span = ((limit - start) / delta).rounded(.up)
            try budget.check([span > 0 ? Int(min(span, 9e18)) : 0], elementSize: 8, subject: node.label, fix: fix)
        case .expand:
            guard let x = input(0), let s = input(1) else { return }
            let target = dims(s)
            let rank = max(x.rank, target.count)
            let a = [Int](repeating: 1, count: rank - x.rank) + x.shape
            let b = [Int](repeating: 1, count: rank - target.count) + target
            try budget.check(zip(a, b).map { max($0, $1) }, subject: node.label, fix: fix)
        case .reshape:
            guard let s = input(1) else { return }
            let target = dims(s)
            if let bad = target.first(where: { $0 < -1 }) {
                throw ModelLimitError(node.label, "target shape \(target) contains \(bad)", fix: "use non-negative sizes, 0 (copy) or -1 (infer)")
            }
            if TensorBudget.elementCount(target.map { max($0, 1) }) == nil {
                throw ModelLimitError(node.label, "target shape \(target) has more than 2^63 elements", fix: "use a shape with as many elements as the input")
            }
        case .pad:
            guard let x = input(0) else { return }
            let pads = node.opset < 11 ? (node.ints("pads") ?? []) : (input(1).map(dims) ?? [])
            guard pads.count == 2 * x.rank else { return }  // the kernel reports axes lists and count mismatches
            let out = (0..<x.rank).map { x.shape[$0].addingReportingOverflow(pads[$0]).partialValue.addingReportingOverflow(pads[$0 + x.rank]).partialValue }
            try budget.check(out.map { max($0, 0) }, subject: node.label, fix: fix)
        case .resize, .upsample:
            guard let x = input(0) else { return }
            var out = x.shape
            if node.op == .upsample || node.opset < 11 {
                let scales = node.op == .upsample && node.opset < 9 ? node.floats("scales")?.map(Double.init) : input(1)?.doubles
                guard let scales else { return }
                try resizeScaled(&out, scales, node)
            } else if let sizes = input(3), sizes.count > 0 {
                let values = dims(sizes)
                if let bad = values.first(where: { $0 < 0 }) {
                    throw ModelLimitError(node.label, "sizes \(values) contains \(bad)", fix: "use non-negative sizes")
                }
                if node.string("keep_aspect_ratio_policy", "stretch") != "stretch" {
                    // Scales are derived from the sizes; the largest ratio bounds every axis.
                    let ratio = zip(values, x.shape.suffix(values.count)).map { Double($0) / Double(max($1, 1)) }.max() ?? 1
                    try resizeScaled(&out, [Double](repeating: ratio, count: x.rank), node)
                } else if values.count == x.rank {
                    out = values
                } else {
                    out = Array(x.shape.dropLast(values.count)) + values
                }
            } else if let scales = input(2), scales.count > 0 {
                try resizeScaled(&out, scales.doubles, node)
            }
            try budget.check(out, subject: node.label, fix: fix)
        case .conv, .kilnConv, .maxPool, .averagePool:
            guard let x = input(0), x.rank >= 3 else { return }
            let w = node.op.isConvolution ? (node.fusion.packedWeights?.shape ?? input(1)?.shape) : nil
            guard let kernel = node.ints("kernel_shape") ?? w.map({ Array($0.dropFirst(2)) }), kernel.count == x.rank - 2 else { return }
            let geo = try WindowGeometry(node: node, input: Array(x.shape[2...]), kernel: kernel,
                                         ceilMode: node.int("ceil_mode", 0) == 1)
            try budget.check([x.shape[0], w?.first ?? x.shape[1]] + geo.output, subject: node.label, fix: fix)
        case .convTranspose:
            guard let x = input(0), let w = input(1), x.rank >= 3, w.rank == x.rank else { return }
            let r = x.rank - 2
            let kernel = node.ints("kernel_shape") ?? Array(w.shape.dropFirst(2))
            let strides = node.ints("strides") ?? Array(repeating: 1, count: r)
            let dilations = node.ints("dilations") ?? Array(repeating: 1, count: r)
            guard kernel.count == r, strides.count == r, dilations.count == r else { return }
            for (key, v) in [("kernel_shape", kernel), ("strides", strides), ("dilations", dilations)] {
                if let bad = v.first(where: { $0 <= 0 || $0 > 1 << 20 }) {
                    throw ModelLimitError(node.label, "\(key) \(v) contains \(bad)", fix: "give every \(key) axis a value from 1 to the input size")
                }
            }
            var out = [x.shape[0], w.shape[1] * max(1, node.int("group", 1))]
            if let explicit = node.ints("output_shape"), explicit.count >= r {
                out += explicit.suffix(r)
            } else {
                // Upper bound of ONNX's output size (pads only shrink it).
                let outPad = node.ints("output_padding") ?? []
                out += (0..<r).map { a in
                    strides[a] * max(0, x.shape[a + 2] - 1) + (kernel[a] - 1) * dilations[a] + 1 + min(max(a < outPad.count ? outPad[a] : 0, 0), 1 << 20)
                }
            }
            try budget.check(out.map { max($0, 0) }, subject: node.label, fix: fix)
            if r <= 2 {
                // 1-D and 2-D run as GEMM + col2im: one band of the column buffer holds at least
                // (output channels per group × taps) rows of one input row, whatever output_shape says.
                try budget.check([w.shape[1]] + kernel + [x.shape[x.rank - 1]], subject: "\(node.label) (column buffer)", fix: fix)
            }
        default:
            break
        }
    }

    /// The inputs whose *values* `checkLimits` reads for `node` (the sizes of every input count too).
    static func limitValueInputs(_ node: RNode) -> Set<Int> {
        switch node.op {
        case .constantOfShape: [0]
        case .range: [0, 1, 2]
        case .expand, .reshape, .pad, .resize, .upsample: [1, 2, 3]
        default: []
        }
    }

    /// Scales the trailing axes of `shape` by `scales` (one per axis, or per trailing axis).
    private static func resizeScaled(_ shape: inout [Int], _ scales: [Double], _ node: RNode) throws {
        guard scales.count <= shape.count else { return }  // the kernel reports the mismatch
        let offset = shape.count - scales.count
        for (k, s) in scales.enumerated() {
            guard s.isFinite, s > 0 else {
                throw ModelLimitError(node.label, "scale \(s) is not a positive finite number", fix: "use positive scales")
            }
            let v = s * Double(shape[offset + k])
            shape[offset + k] = v < 9e18 ? Int(v) : Int.max
        }
    }
}
