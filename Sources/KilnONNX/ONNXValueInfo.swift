import KilnCore

/// An ONNX `ValueInfoProto`: a value's name and, for tensors, its element type and shape.
public struct ONNXValueInfo: Sendable, Equatable {
    /// The value's name.
    public var name: String
    /// Element type and shape (symbolic dims named, unknown dims nil); nil for non-tensor types
    /// (sequence, map, optional), tensors of unknown rank, and values without a type.
    public var descriptor: TensorDescriptor?
    /// The raw `TypeProto` bytes, kept when `descriptor` cannot represent the type exactly
    /// (non-tensor types, unknown rank, denotations). When set, the writer emits it instead of `descriptor`.
    public var typeProto: [UInt8]?
    /// Human-readable documentation.
    public var docString: String
    /// Raw wire bytes of fields Kiln does not model (metadata), kept verbatim.
    public var unmodelledFields: [UInt8]
    /// Dimension values the file gives that no tensor can have (negative, or beyond 2^41); each
    /// reads as a dynamic axis in `descriptor`, and `ONNXModel.checkLimits` refuses them on inputs.
    /// -1, exporters' "unknown" (paddle2onnx), is not among them: it reads as a dynamic axis.
    public var invalidDimensions: [Int64] = []

    /// Creates a value info.
    public init(name: String, descriptor: TensorDescriptor?, typeProto: [UInt8]? = nil, docString: String = "",
                unmodelledFields: [UInt8] = []) {
        self.name = name
        self.descriptor = descriptor
        self.typeProto = typeProto
        self.docString = docString
        self.unmodelledFields = unmodelledFields
    }

    /// A tensor value info with the given element type and shape (`nil` dims dynamic, named by `names`).
    public static func tensor(_ name: String, _ elementType: ElementType, _ shape: [Int?],
                              names: [String?]? = nil) -> ONNXValueInfo {
        ONNXValueInfo(name: name, descriptor: TensorDescriptor(name: name, elementType: elementType, shape: shape, dimensionNames: names))
    }
}
