/// An op of the reference backend's IR: an ai.onnx op the backend executes, or one of Kiln's own
/// fused ops, which only the optimizer creates.
///
/// The raw value is the op's name: the ONNX op type, or Kiln's own name. Engine files store it
/// (`ReferenceEngineFormat`); a model cannot name Kiln's own ops (`init(onnx:)` refuses them).
package enum ReferenceOp: String, CaseIterable, Sendable, CustomStringConvertible {
    case conv = "Conv", convTranspose = "ConvTranspose"
    case relu = "Relu", leakyRelu = "LeakyRelu", pRelu = "PRelu", sigmoid = "Sigmoid", hardSigmoid = "HardSigmoid"
    case hardSwish = "HardSwish", tanh = "Tanh", erf = "Erf", clip = "Clip"
    case add = "Add", sub = "Sub", mul = "Mul", div = "Div", pow = "Pow", sqrt = "Sqrt", exp = "Exp"
    case matMul = "MatMul", gemm = "Gemm"
    case maxPool = "MaxPool", averagePool = "AveragePool", globalAveragePool = "GlobalAveragePool", globalMaxPool = "GlobalMaxPool"
    case batchNormalization = "BatchNormalization"
    case flatten = "Flatten", reshape = "Reshape", transpose = "Transpose", concat = "Concat", split = "Split", slice = "Slice"
    case resize = "Resize", upsample = "Upsample", softmax = "Softmax", pad = "Pad", squeeze = "Squeeze", unsqueeze = "Unsqueeze"
    case shape = "Shape", gather = "Gather", constant = "Constant", constantOfShape = "ConstantOfShape", identity = "Identity"
    case reduceMean = "ReduceMean", cast = "Cast", `where` = "Where", equal = "Equal", range = "Range", expand = "Expand"
    case dropout = "Dropout"
    /// Kiln's own: a Conv whose constant weights the optimizer packed for a kernel; how, and the
    /// weights' original shape, are in `RNode.fusion.packedWeights`.
    case kilnConv = "KilnConv"

    /// The ai.onnx op named `type`; nil for an op the backend does not implement and for Kiln's own ops.
    package init?(onnx type: String) {
        guard let op = ReferenceOp(rawValue: type), !op.isKilnOwn else { return nil }
        self = op
    }

    /// True for the ops only Kiln's optimizer creates (never read from a model).
    package var isKilnOwn: Bool { self == .kilnConv }

    /// True for Conv and Kiln's packed Conv (both run the convolution kernel).
    package var isConvolution: Bool { self == .conv || self == .kilnConv }

    /// The op's name (the ONNX op type or Kiln's own name).
    package var description: String { rawValue }

    /// The ai.onnx op types the reference backend executes.
    package static let onnxTypes: Set<String> = Set(allCases.filter { !$0.isKilnOwn }.map(\.rawValue))
}
