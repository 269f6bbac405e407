/// The value of an ONNX node attribute, one case per `AttributeProto.AttributeType` Kiln models.
///
/// Sparse-tensor and type-proto attributes are not modelled; the reader keeps them verbatim in
/// `ONNXNode.unmodelledFields`.
public indirect enum ONNXAttribute: Sendable, Equatable {
    /// A single float (`f`).
    case float(Float)
    /// A single integer (`i`).
    case int(Int64)
    /// A string (`s`, decoded as UTF-8).
    case string(String)
    /// A tensor (`t`), e.g. `Constant`'s value.
    case tensor(ONNXTensor)
    /// A subgraph (`g`), e.g. `If`'s branches.
    case graph(ONNXGraph)
    /// A list of floats.
    case floats([Float])
    /// A list of integers, e.g. `kernel_shape`.
    case ints([Int64])
    /// A list of strings.
    case strings([String])
    /// A list of tensors.
    case tensors([ONNXTensor])
    /// A list of subgraphs.
    case graphs([ONNXGraph])

    /// The `AttributeProto.AttributeType` number of this value.
    public var typeCode: Int {
        switch self {
        case .float: 1
        case .int: 2
        case .string: 3
        case .tensor: 4
        case .graph: 5
        case .floats: 6
        case .ints: 7
        case .strings: 8
        case .tensors: 9
        case .graphs: 10
        }
    }

    /// The value of a `.string`, nil otherwise.
    public var stringValue: String? { if case .string(let v) = self { v } else { nil } }
    /// The values of `.ints`, nil otherwise.
    public var ints: [Int64]? { if case .ints(let v) = self { v } else { nil } }
    /// The values of `.floats`, nil otherwise.
    public var floats: [Float]? { if case .floats(let v) = self { v } else { nil } }
}
