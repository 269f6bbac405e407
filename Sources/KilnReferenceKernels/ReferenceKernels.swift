import KilnCore
import KilnONNX

/// The reference backend's operator implementations, dispatched by op type.
package enum ReferenceKernels {
    /// The ai.onnx op types the reference backend executes.
    package static let supportedOps: Set<String> = ReferenceOp.onnxTypes

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
        case .relu, .leakyRelu, .sigmoid, .hardSigmoid, .hardSwish, .tanh, .erf, .sqrt, .exp:
            return [try unary(node, x(), threads: threads)]
        case .identity, .dropout:
            var outs = [try x()]
            if node.outputs.count > 1 {
                outs.append(RTensor(type: .bool, shape: try x().shape, i: [Int64](repeating: 1, count: try x().count)))
            }
            return outs
        case .clip: return [try clip(node, inputs)]
        case .add, .sub, .mul, .div, .pow, .pRelu, .equal:
            return [try binary(node, x(), required(inputs, 1, node), threads: threads)]
        case .where: return [try whereOp(node, x(), required(inputs, 1, node), required(inputs, 2, node))]
        case .conv, .kilnConv: return [try conv(node, inputs, threads: threads)]
        case .convTranspose: return [try convTranspose(node, inputs, threads: threads)]
        case .maxPool, .averagePool: return try pool(node, x(), threads: threads)
        case .globalAveragePool, .globalMaxPool: return [try globalPool(node, x(), threads: threads)]
        case .batchNormalization: return try batchNorm(node, inputs)
        case .softmax: return [try softmax(node, x(), threads: threads)]
        case .reduceMean: return [try reduceMean(node, inputs)]
        case .matMul: return [try matmul(node, x(), required(inputs, 1, node), threads: threads)]
        case .gemm: return [try gemm(node, inputs, threads: threads)]
        case .reshape: return [try reshape(node, x(), required(inputs, 1, node))]
        case .flatten: return [try flatten(node, x())]
        case .transpose: return [try transpose(node, x(), threads: threads)]
        case .concat: return [try concat(node, inputs, threads: threads)]
        case .split: return try split(node, inputs, outputs: node.outputs.count, threads: threads)
        case .slice: return [try slice(node, inputs, threads: threads)]
        case .squeeze: return [try squeeze(node, inputs)]
        case .unsqueeze: return [try unsqueeze(node, inputs)]
        case .shape: return [shapeOp(node, try x())]
        case .gather: return [try gather(node, x(), required(inputs, 1, node))]
        case .expand: return [try expand(node, x(), required(inputs, 1, node))]
        case .pad: return [try pad(node, inputs)]
        case .range: return [try range(node, inputs)]
        case .constantOfShape: return [try constantOfShape(node, x())]
        case .constant: return [try constant(node)]
        case .cast: return [try cast(node, x())]
        case .resize, .upsample: return [try resize(node, inputs)]
        }
    }
}
