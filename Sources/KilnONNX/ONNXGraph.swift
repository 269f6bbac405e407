/// An ONNX `GraphProto`: nodes in topological order, initializers, inputs, outputs, value infos.
public struct ONNXGraph: Sendable, Equatable {
    /// The graph's name.
    public var name: String
    /// The nodes, topologically sorted as the file stores them.
    public var nodes: [ONNXNode]
    /// Constant tensors (weights); their names may also appear among `inputs`.
    public var initializers: [ONNXTensor]
    /// Graph inputs (in ONNX < IR 4 these include initializers).
    public var inputs: [ONNXValueInfo]
    /// Graph outputs.
    public var outputs: [ONNXValueInfo]
    /// Type and shape information for intermediate values.
    public var valueInfos: [ONNXValueInfo]
    /// Human-readable documentation.
    public var docString: String
    /// Raw wire bytes of fields Kiln does not model (quantization annotations, metadata), kept verbatim.
    public var unmodelledFields: [UInt8]

    /// Creates a graph.
    public init(name: String = "", nodes: [ONNXNode] = [], initializers: [ONNXTensor] = [], inputs: [ONNXValueInfo] = [],
                outputs: [ONNXValueInfo] = [], valueInfos: [ONNXValueInfo] = [], docString: String = "",
                unmodelledFields: [UInt8] = []) {
        self.name = name
        self.nodes = nodes
        self.initializers = initializers
        self.inputs = inputs
        self.outputs = outputs
        self.valueInfos = valueInfos
        self.docString = docString
        self.unmodelledFields = unmodelledFields
    }

    /// The inputs that are not initializers: what a caller must feed.
    public var runtimeInputs: [ONNXValueInfo] {
        let constant = Set(initializers.map(\.name))
        return inputs.filter { !constant.contains($0.name) }
    }
}
