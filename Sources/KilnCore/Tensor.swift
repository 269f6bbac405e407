/// A named-free, typed, shaped block of tensor data in host memory, little-endian and row-major.
///
/// This is the exchange type between sources, preprocessing, backends and postprocessing.
/// Backends keep their own internal layouts; at the API boundary data is always dense bytes.
public struct Tensor: Sendable, Equatable {
    /// The element type of `bytes`.
    public var elementType: ElementType
    /// The dimensions, outermost first. An empty shape is a scalar.
    public var shape: [Int]
    /// Dense little-endian element data, `elementCount * elementType.byteWidth` bytes.
    public var bytes: [UInt8]
    /// String elements, used only when `elementType == .string`.
    public var strings: [String]

    /// Creates a tensor from raw bytes; the byte count must match the shape and type.
    public init(elementType: ElementType, shape: [Int], bytes: [UInt8]) {
        self.elementType = elementType
        self.shape = shape
        self.bytes = bytes
        self.strings = []
    }

    /// Creates a string tensor.
    public init(shape: [Int], strings: [String]) {
        self.elementType = .string
        self.shape = shape
        self.bytes = []
        self.strings = strings
    }

    /// Creates a float32 tensor from values.
    public init(shape: [Int], floats: [Float]) {
        self.elementType = .float32
        self.shape = shape
        self.bytes = floats.withUnsafeBytes { Array($0) }
        self.strings = []
    }

    /// The number of elements the shape describes (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    /// Reads the elements as `T` (which must match `elementType`'s width).
    public func values<T: BitwiseCopyable>(as type: T.Type) -> [T] {
        let count = bytes.count / MemoryLayout<T>.stride
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                let dst = UnsafeMutableRawBufferPointer(buffer)
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<count * MemoryLayout<T>.stride]))
            }
            initialized = count
        }
    }

    /// The elements converted to Float, for any numeric element type (float16/bfloat16 widened).
    public func floatValues() -> [Float] {
        switch elementType {
        case .float32: return values(as: Float.self)
        case .float16: return values(as: UInt16.self).map { Float(Float16(bitPattern: $0)) }
        case .bfloat16: return values(as: UInt16.self).map { Float(bitPattern: UInt32($0) << 16) }
        case .float64: return values(as: Double.self).map { Float($0) }
        case .int8: return values(as: Int8.self).map { Float($0) }
        case .uint8, .bool: return bytes.map { Float($0) }
        case .int16: return values(as: Int16.self).map { Float($0) }
        case .uint16: return values(as: UInt16.self).map { Float($0) }
        case .int32: return values(as: Int32.self).map { Float($0) }
        case .uint32: return values(as: UInt32.self).map { Float($0) }
        case .int64: return values(as: Int64.self).map { Float($0) }
        case .uint64: return values(as: UInt64.self).map { Float($0) }
        default: return []
        }
    }
}

/// The name, element type and shape of a model input or output; `nil` dimensions are dynamic.
public struct TensorDescriptor: Sendable, Equatable, Codable {
    /// The tensor's name in the model.
    public var name: String
    /// Its element type.
    public var elementType: ElementType
    /// Its dimensions; `nil` marks a dynamic axis.
    public var shape: [Int?]
    /// Symbolic names of dynamic axes (`"batch"`), parallel to `shape`, where the model names them.
    public var dimensionNames: [String?]

    /// Creates a descriptor.
    public init(name: String, elementType: ElementType, shape: [Int?], dimensionNames: [String?]? = nil) {
        self.name = name
        self.elementType = elementType
        self.shape = shape
        self.dimensionNames = dimensionNames ?? Array(repeating: nil, count: shape.count)
    }
}
