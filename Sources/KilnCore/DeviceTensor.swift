/// A typed, shaped tensor whose dense row-major bytes live in GPU memory.
///
/// The storage is shared, not copied, when the value is copied: the memory stays valid until the
/// last copy is gone. The producer has finished writing it (its stream is synchronised) before it
/// hands the tensor on.
public struct DeviceTensor: Sendable {
    /// The element type.
    public var elementType: ElementType
    /// The dimensions, outermost first.
    public var shape: [Int]
    /// The memory holding the bytes.
    public var storage: any DeviceTensorStorage

    /// Wraps `storage` as a tensor; the shape's bytes must fit in it.
    public init(elementType: ElementType, shape: [Int], storage: any DeviceTensorStorage) throws(RuntimeError) {
        guard elementType.byteWidth > 0, shape.allSatisfy({ $0 >= 0 }),
              let needed = elementType.byteCount(elements: shape.reduce(1, *)), needed <= storage.byteCount else {
            throw RuntimeError("device tensor: a \(elementType) tensor of shape \(shape) does not fit the \(storage.byteCount)-byte device buffer")
        }
        self.elementType = elementType
        self.shape = shape
        self.storage = storage
    }

    /// The number of elements the shape describes.
    public var elementCount: Int { shape.reduce(1, *) }
    /// The tensor's size in bytes.
    public var byteCount: Int { elementCount * elementType.byteWidth }
    /// The device address of the first element.
    public var address: UInt64 { storage.deviceAddress }

    /// Copies the tensor to host memory (one device-to-host transfer).
    public func download() throws -> Tensor {
        let count = byteCount
        var failure: (any Error)?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 {
                do { try storage.copyToHost(buffer.baseAddress!, count: count) } catch {
                    failure = error
                    UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0)
                }
            }
            initialized = count
        }
        if let failure { throw failure }
        return Tensor(elementType: elementType, shape: shape, bytes: bytes)
    }
}
