import KilnCore

extension ONNXModel {
    /// Refuses a model whose declared sizes are impossible or beyond `budget`, before anything is allocated.
    ///
    /// Checked here, from the file alone: input dimensions (zero, negative, too large), window
    /// attributes of Conv, ConvTranspose and the pools (zero or negative kernels, strides and
    /// dilations, negative pads), zero-sized weights, and the outputs of ConstantOfShape, Range,
    /// Expand and Reshape whose shape inputs are constants. Sizes that depend on values computed
    /// at run time are checked by the backend before each node allocates (the reference backend's
    /// `ReferenceKernels.checkLimits`). `name` names the model in messages.
    public func checkLimits(name: String, budget: TensorBudget) throws(ModelLimitError) {
        for info in graph.runtimeInputs {
            let subject = "\(name): input \(info.name)"
            if let bad = info.invalidDimensions.first {
                throw ModelLimitError(subject, "has dimension \(bad), which no tensor can have",
                                      fix: "give the input positive dimensions (or a named dynamic axis) and re-export the model")
            }
            guard let d = info.descriptor else { continue }
            // An empty image-like input (rank ≥ 4) has nothing to feed frames to; smaller empty
            // inputs (an empty axes list) are valid ONNX.
            if d.shape.count >= 4, d.shape.contains(0) {
                throw ModelLimitError(subject, "has a zero dimension in \(d.shape.map { $0.map(String.init) ?? "?" }), so it holds no data",
                                      fix: "give the input positive dimensions and re-export the model")
            }
            try budget.check(d.shape.map { $0 ?? 1 }, elementSize: d.elementType.byteCount(elements: 1) ?? 4,
                             subject: subject, fix: "re-export the model with a smaller input")
        }
        let constants = constantIntegers()
        let initializers = Dictionary(graph.initializers.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        for (index, node) in graph.nodes.enumerated() where node.domain.isEmpty || node.domain == "ai.onnx" {
            let subject = "\(name): node \(node.name.isEmpty ? "#\(index)" : node.name) (\(node.opType))"
            func ints(_ key: String) -> [Int64]? {
                switch node.attributes[key] {
                case .ints(let v)?: v
                case .int(let v)?: [v]
                default: nil
                }
            }
            switch node.opType {
            case "Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool":
                if let k = ints("kernel_shape"), let bad = k.first(where: { $0 <= 0 }) {
                    throw ModelLimitError(subject, "kernel_shape \(k) has a kernel of size \(bad)", fix: "give every kernel axis a size of at least 1")
                }
                for key in ["strides", "dilations"] {
                    if let v = ints(key), let bad = v.first(where: { $0 <= 0 }) {
                        throw ModelLimitError(subject, "\(key) \(v) contains \(bad)", fix: "give every \(key) axis a value of at least 1")
                    }
                }
                if let p = ints("pads"), let bad = p.first(where: { $0 < 0 || $0 > 1 << 20 }) {
                    throw ModelLimitError(subject, "pads \(p) contains \(bad)", fix: "use pads between 0 and the kernel size")
                }
                if node.opType.hasPrefix("Conv"), node.inputs.count > 1, let w = initializers[node.inputs[1]], w.shape.contains(0) {
                    throw ModelLimitError(subject, "weight \(node.inputs[1]) has shape \(w.shape), an empty kernel", fix: "give the weight positive dimensions")
                }
            case "ConstantOfShape":
                if let shape = node.inputs.first.flatMap({ constants[$0] }) {
                    try budget.check(shape.map(Self.clamp), subject: subject, fix: "fill a smaller shape")
                }
            case "Range":
                if node.inputs.count == 3, let s = constants[node.inputs[0]]?.first, let l = constants[node.inputs[1]]?.first,
                   let d = constants[node.inputs[2]]?.first {
                    guard d != 0 else { throw ModelLimitError(subject, "delta is 0, so the range never ends", fix: "use a non-zero delta") }
                    let span = (Double(l) - Double(s)) / Double(d)
                    let count = span > 0 ? Int(min(span.rounded(.up), 9e18)) : 0
                    try budget.check([count], elementSize: 8, subject: subject, fix: "use a smaller range")
                }
            case "Expand":
                if node.inputs.count > 1, let shape = constants[node.inputs[1]] {
                    try budget.check(shape.map { Self.clamp(max($0, 1)) }, subject: subject, fix: "expand to a smaller shape")
                }
            case "Reshape":
                if node.inputs.count > 1, let shape = constants[node.inputs[1]] {
                    if let bad = shape.first(where: { $0 < -1 }) {
                        throw ModelLimitError(subject, "shape \(shape) contains \(bad)", fix: "use non-negative sizes, 0 (copy) or -1 (infer)")
                    }
                    if TensorBudget.elementCount(shape.map { Self.clamp(max($0, 1)) }) == nil {
                        throw ModelLimitError(subject, "shape \(shape) has more than 2^63 elements", fix: "use a shape with as many elements as the input")
                    }
                }
            default:
                break
            }
        }
    }

    /// Values of integer initializers and integer `Constant` nodes of the main graph, by name.
    func constantIntegers() -> [String: [Int64]] {
        var result: [String: [Int64]] = [:]
        func ints(_ t: Tensor) -> [Int64]? {
            guard t.elementCount <= 64 else { return nil }
            switch t.elementType {
            case .int64: return t.values(as: Int64.self)
            case .int32: return t.values(as: Int32.self).map(Int64.init)
            default: return nil
            }
        }
        for i in graph.initializers { if let v = ints(i.tensor) { result[i.name] = v } }
        for n in graph.nodes where n.opType == "Constant" && n.outputs.count == 1 {
            switch n.attributes["value"] {
            case .tensor(let t)?: if let v = ints(t.tensor) { result[n.outputs[0]] = v }
            case .ints(let v)?: result[n.outputs[0]] = v
            case .int(let v)?: result[n.outputs[0]] = [v]
            default: break
            }
        }
        return result
    }

    /// An Int64 dimension as Int (the budget check refuses what is negative or too large).
    static func clamp(_ v: Int64) -> Int { Int(clamping: v) }
}
