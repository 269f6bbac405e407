/// A tensor in host or device memory: what a preprocessor hands to a runner.
public enum TensorValue: Sendable {
    /// Bytes in host memory.
    case host(Tensor)
    /// Bytes in GPU memory.
    case device(DeviceTensor)

    /// Where the bytes are.
    public var memory: TensorMemory {
        switch self {
        case .host: .host
        case .device: .device
        }
    }

    /// The element type.
    public var elementType: ElementType {
        switch self {
        case .host(let t): t.elementType
        case .device(let t): t.elementType
        }
    }

    /// The dimensions, outermost first.
    public var shape: [Int] {
        switch self {
        case .host(let t): t.shape
        case .device(let t): t.shape
        }
    }

    /// The tensor in host memory: itself, or exactly one download of the device bytes.
    public func hostTensor() throws -> Tensor {
        switch self {
        case .host(let t): t
        case .device(let t): try t.download()
        }
    }
}
