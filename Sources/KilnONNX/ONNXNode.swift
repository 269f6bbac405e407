/// An ONNX `NodeProto`: one operator application.
public struct ONNXNode: Sendable, Equatable {
    /// The node's name (may be empty).
    public var name: String
    /// The operator, e.g. `Conv`.
    public var opType: String
    /// The operator's domain; `""` is the default ONNX domain.
    public var domain: String
    /// Input value names; `""` marks an omitted optional input.
    public var inputs: [String]
    /// Output value names; `""` marks an omitted optional output.
    public var outputs: [String]
    /// Attributes by name (written back sorted by name).
    public var attributes: [String: ONNXAttribute]
    /// Human-readable documentation.
    public var docString: String
    /// Raw wire bytes of fields and attributes Kiln does not model (sparse-tensor and type-proto
    /// attributes, `overload`, metadata), kept verbatim.
    public var unmodelledFields: [UInt8]

    /// Creates a node.
    public init(name: String = "", opType: String, domain: String = "", inputs: [String], outputs: [String],
                attributes: [String: ONNXAttribute] = [:], docString: String = "", unmodelledFields: [UInt8] = []) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
        self.docString = docString
        self.unmodelledFields = unmodelledFields
    }

    /// The `index`-th input name, or nil when absent or omitted (`""`).
    public func input(_ index: Int) -> String? {
        index < inputs.count && !inputs[index].isEmpty ? inputs[index] : nil
    }
}
