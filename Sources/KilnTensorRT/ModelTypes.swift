import KilnCore
import KilnONNX

/// What an ONNX model's own types say about the precision TensorRT can build it in.
///
/// Strongly typed networks (TensorRT 11 always, and Kiln's Q/DQ builds on 10) take their precision
/// from these types, not from builder flags: fp16 needs fp16 weights, int8 needs Q/DQ nodes.
public struct ModelTypes: Sendable, Equatable, Codable {
    /// The model has QuantizeLinear/DequantizeLinear nodes (explicitly quantized INT8/FP8).
    public var quantized: Bool
    /// Floating-point element types among the model's weights (initializers and constants) and inputs.
    public var floatTypes: Set<ElementType>

    /// Creates a description.
    public init(quantized: Bool, floatTypes: Set<ElementType>) {
        self.quantized = quantized
        self.floatTypes = floatTypes
    }

    /// A plain fp32 model: no Q/DQ nodes, fp32 weights.
    public static let float32 = ModelTypes(quantized: false, floatTypes: [.float32])

    /// Reads `model`'s nodes (subgraphs included), initializers, constants and inputs.
    public init(model: ONNXModel) {
        var quantized = false
        var types: Set<ElementType> = []
        let floats: Set<ElementType> = [.float32, .float16, .bfloat16, .float64]
        func visit(_ graph: ONNXGraph) {
            for t in graph.initializers where floats.contains(t.tensor.elementType) { types.insert(t.tensor.elementType) }
            for i in graph.inputs { if let t = i.descriptor?.elementType, floats.contains(t) { types.insert(t) } }
            for node in graph.nodes {
                if node.opType == "QuantizeLinear" || node.opType == "DequantizeLinear" { quantized = true }
                for attribute in node.attributes.values {
                    switch attribute {
                    case .graph(let g): visit(g)
                    case .tensor(let t) where floats.contains(t.tensor.elementType): types.insert(t.tensor.elementType)
                    default: break
                    }
                }
            }
        }
        visit(model.graph)
        self.init(quantized: quantized, floatTypes: types)
    }

    /// Whether the model's own types carry `precision` (what a strongly typed build gives).
    public func carries(_ precision: Precision) -> Bool {
        switch precision {
        case .fp32: true
        case .fp16: floatTypes.contains(.float16)
        case .bf16: floatTypes.contains(.bfloat16)
        case .int8: quantized
        case .best: quantized || floatTypes.contains(.float16) || floatTypes.contains(.bfloat16)
        }
    }

    /// What the model needs to carry `precision`, for warnings.
    public static func requirement(for precision: Precision) -> String {
        switch precision {
        case .fp32: "nothing"
        case .fp16: "fp16 weights (convert the model, e.g. onnxconverter-common's float16 conversion)"
        case .bf16: "bf16 weights"
        case .int8: "Q/DQ nodes (quantize the model, e.g. with NVIDIA ModelOpt or onnxruntime's quantize_static)"
        case .best: "fp16 weights or Q/DQ nodes"
        }
    }
}
