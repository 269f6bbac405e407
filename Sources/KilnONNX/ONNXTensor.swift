import KilnCore

/// A named ONNX `TensorProto`, decoded into a dense little-endian `KilnCore.Tensor`.
///
/// Whatever the file used (raw_data, typed fields, external data), `tensor.bytes` holds dense
/// little-endian elements (sub-byte types packed as ONNX packs them); strings are in `tensor.strings`
/// (decoded as UTF-8; invalid sequences become U+FFFD).
public struct ONNXTensor: Sendable, Equatable {
    /// The tensor's name (an initializer's value name).
    public var name: String
    /// The decoded data.
    public var tensor: Tensor
    /// Human-readable documentation.
    public var docString: String
    /// Raw wire bytes of fields Kiln does not model (metadata), kept verbatim.
    public var unmodelledFields: [UInt8]

    /// Creates a named tensor.
    public init(name: String, tensor: Tensor, docString: String = "", unmodelledFields: [UInt8] = []) {
        self.name = name
        self.tensor = tensor
        self.docString = docString
        self.unmodelledFields = unmodelledFields
    }
}
