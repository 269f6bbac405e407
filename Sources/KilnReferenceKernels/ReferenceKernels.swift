import KilnCore
import KilnONNX

/// The reference backend's operator implementations, dispatched by op type.
package enum ReferenceKernels {
    /// The ai.onnx op types the reference backend executes.
    package static let supportedOps: Set<String> = [
        "Conv", "ConvTranspose", "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf",
        "Clip", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "MatMul", "Gemm", "MaxPool", "AveragePool",
        "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "Flatten", "Reshape", "Transpose", "Concat", "Split",
        "Slice", "Resize", "Upsample", "Softmax", "Pad", "Squeeze", "Unsqueeze", "Shape", "Gather", "Constant",
        "ConstantOfShape", "Identity", "ReduceMean", "Cast", "Where", "Equal", "Range", "Expand", "Dropout",
    ]

    /// The nodes of `model` the reference backend cannot run: op type, node name and why.
    package static func unsupportedNodes(_ model: ONNXModel) -> [(opType: String, node: String, reason: String)] {
        var result: [(String, String, String)] = []
        let opset = model.opset(for: "")
        for (k, n) in model.graph.nodes.enumerated() {
            let name = n.name.isEmpty ? "#\(k)" : n.name
            if !(n.domain.isEmpty || n.domain == "ai.onnx") {
                result.append((n.opType, name, "domain \(n.domain) is not supported"))
            } else if !supportedOps.contains(n.opType) {
                result.append((n.opType, name, "op is not implemented"))
            } else if opset < 9 {
                result.append((n.opType, name, "opset \(opset) is older than 9 (the reference backend implements opsets 9 and newer)"))
            }
        }
        return result
    }

    /// Returns input `k`, or throws naming the node when it is missing.
    static func required(_ inputs: [RTensor?], _ k: Int, _ node: RNode) throws -> RTensor {
        guard k < inputs.count, let t = inputs[k] else {
            throw InvalidModelError("\(node.label): required input \(k) is missing")
        }
        return t
    }

    /// Runs one node on its inputs and returns its outputs (in output order).
    static func execute(_ node: RNode, _ inputs: [RTensor?], threads: Int) throws -> [RTensor] {
        func x() throws -> RTensor { try required(inputs, 0, node) }
        try checkLimits(node, inputs, budget: .machine)
        switch node.op {
        case "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Sqrt", "Exp":
            return [try unary(node, x(), threads: threads)]
        case "Identity", "Dropout":
            var outs = [try x()]
            if node.outputs.count > 1 {
                outs.append(RTensor(type: .bool, shape: try x().shape, i: [Int64](repeating: 1, count: try x().count)))
            }
            return outs
        case "Clip": return [try clip(node, inputs)]
        case "Add", "Sub", "Mul", "Div", "Pow", "PRelu", "Equal":
            return [try binary(node, x(), required(inputs, 1, node))]
        case "Where": return [try whereOp(node, x(), required(inputs, 1, node), required(inputs, 2, node))]
        case "Conv", "KilnConv": return [try conv(node, inputs, threads: threads)]
        case "ConvTranspose": return [try convTranspose(node, inputs)]
        case "MaxPool", "AveragePool": return try pool(node, x(), threads: threads)
        case "GlobalAveragePool", "GlobalMaxPool": return [try globalPool(node, x(), threads: threads)]
        case "BatchNormalization": return try batchNorm(node, inputs)
        case "Softmax": return [try softmax(node, x())]
        case "ReduceMean": return [try reduceMean(node, inputs)]
        case "MatMul": return [try matmul(node, x(), required(inputs, 1, node), threads: threads)]
        case "Gemm": return [try gemm(node, inputs, threads: threads)]
        case "Reshape": return [try reshape(node, x(), required(inputs, 1, node))]
        case "Flatten": return [try flatten(node, x())]
        case "Transpose": return [try transpose(node, x())]
        case "Concat": return [try concat(node, inputs)]
        case "Split": return try split(node, inputs, outputs: node.outputs.count)
        case "Slice": return [try slice(node, inputs)]
        case "Squeeze": return [try squeeze(node, inputs)]
        case "Unsqueeze": return [try unsqueeze(node, inputs)]
        case "Shape": return [shapeOp(node, try x())]
        case "Gather": return [try gather(node, x(), required(inputs, 1, node))]
        case "Expand": return [try expand(node, x(), required(inputs, 1, node))]
        case "Pad": return [try pad(node, inputs)]
        case "Range": return [try range(node, inputs)]
        case "ConstantOfShape": return [try constantOfShape(node, x())]
        case "Constant": return [try constant(node)]
        case "Cast": return [try cast(node, x())]
        case "Resize", "Upsample": return [try resize(node, inputs)]
        default:
            throw InvalidModelError("\(node.label): op \(node.op) is not supported by the reference backend")
        }
    }
}
