import KilnCore

/// An ONNX `ModelProto`: format version, operator sets, producer, metadata and the main graph.
///
/// Fields Kiln does not model (model-local functions, training info) are kept verbatim in
/// `unmodelledFields` so that reading and writing a model back loses nothing.
public struct ONNXModel: Sendable, Equatable {
    /// `ir_version`: the ONNX file-format version.
    public var irVersion: Int64
    /// Operator-set imports: domain → version; `""` (or `"ai.onnx"`) is the default ONNX domain.
    public var opsetImports: [String: Int64]
    /// The tool that wrote the model.
    public var producerName: String
    /// The version of that tool.
    public var producerVersion: String
    /// The model's reverse-DNS domain (`domain` field), often empty.
    public var domain: String
    /// `model_version`, often 0.
    public var modelVersion: Int64
    /// Human-readable documentation.
    public var docString: String
    /// `metadata_props` as a dictionary (written back sorted by key).
    public var metadata: [String: String]
    /// The main graph.
    public var graph: ONNXGraph
    /// Raw wire bytes of fields Kiln does not model (functions, training_info…), written back as-is.
    public var unmodelledFields: [UInt8]

    /// Creates a model.
    public init(irVersion: Int64 = 10, opsetImports: [String: Int64] = ["": 21], producerName: String = "kiln",
                producerVersion: String = "", domain: String = "", modelVersion: Int64 = 0, docString: String = "",
                metadata: [String: String] = [:], graph: ONNXGraph, unmodelledFields: [UInt8] = []) {
        self.irVersion = irVersion
        self.opsetImports = opsetImports
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.domain = domain
        self.modelVersion = modelVersion
        self.docString = docString
        self.metadata = metadata
        self.graph = graph
        self.unmodelledFields = unmodelledFields
    }

    /// The imported version of operator-set `domain`; `""` and `"ai.onnx"` name the same domain.
    ///
    /// Returns 0 when the model does not import the domain.
    public func opset(for domain: String = "") -> Int64 {
        if domain == "" || domain == "ai.onnx" {
            return opsetImports[""] ?? opsetImports["ai.onnx"] ?? 0
        }
        return opsetImports[domain] ?? 0
    }
}
