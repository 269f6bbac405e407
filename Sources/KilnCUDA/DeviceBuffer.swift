/// A block of device memory (`cuMemAlloc`), freed when released.
public final class DeviceBuffer: Sendable {
    /// The context it was allocated in.
    public let context: CUDAContext
    /// The device address.
    public let address: CUdeviceptr
    /// Size in bytes.
    public let byteCount: Int

    /// Allocates `byteCount` bytes; an out-of-memory failure names the size.
    public init(context: CUDAContext, byteCount: Int) throws(CUDAError) {
        guard byteCount > 0 else { throw .invalidArgument("DeviceBuffer: byte count must be positive, got \(byteCount)") }
        self.context = context
        self.byteCount = byteCount
        try context.makeCurrent()
        var p: CUdeviceptr = 0
        try context.api.check(context.api.cuMemAlloc(&p, byteCount), "cuMemAlloc(\(byteCount) bytes)")
        address = p
    }

    deinit {
        _ = context.api.cuCtxSetCurrent(context.handle)
        _ = context.api.cuMemFree(address)
    }

    /// Copies `bytes` from host memory to the start of the buffer, queued on `stream`.
    ///
    /// For the copy to be truly asynchronous the host memory must be pinned (`PinnedHostBuffer`).
    public func upload(from host: UnsafeRawPointer, count: Int, offset: Int = 0, stream: CUDAStream) throws(CUDAError) {
        guard offset + count <= byteCount else {
            throw .invalidArgument("DeviceBuffer.upload: \(count) bytes at offset \(offset) overflow a \(byteCount)-byte buffer")
        }
        try context.makeCurrent()
        try context.api.check(context.api.cuMemcpyHtoDAsync(address + UInt64(offset), host, count, stream.handle), "cuMemcpyHtoDAsync(\(count) bytes)")
        CUDATransfers.countUpload(count)
    }

    /// Copies `count` bytes from the buffer to host memory, queued on `stream`.
    public func download(to host: UnsafeMutableRawPointer, count: Int, offset: Int = 0, stream: CUDAStream) throws(CUDAError) {
        guard offset + count <= byteCount else {
            throw .invalidArgument("DeviceBuffer.download: \(count) bytes at offset \(offset) overflow a \(byteCount)-byte buffer")
        }
        try context.makeCurrent()
        try context.api.check(context.api.cuMemcpyDtoHAsync(host, address + UInt64(offset), count, stream.handle), "cuMemcpyDtoHAsync(\(count) bytes)")
        CUDATransfers.countDownload(count)
    }

    /// Copies `count` bytes device-to-device from `source`, queued on `stream`.
    public func copy(from source: DeviceBuffer, count: Int, stream: CUDAStream) throws(CUDAError) {
        guard count <= byteCount, count <= source.byteCount else {
            throw .invalidArgument("DeviceBuffer.copy: \(count) bytes exceed a buffer (\(source.byteCount) → \(byteCount))")
        }
        try context.makeCurrent()
        try context.api.check(context.api.cuMemcpyDtoDAsync(address, source.address, count, stream.handle), "cuMemcpyDtoDAsync(\(count) bytes)")
    }

    /// Fills the whole buffer with `value`, queued on `stream`.
    public func fill(_ value: UInt8, stream: CUDAStream) throws(CUDAError) {
        try context.makeCurrent()
        try context.api.check(context.api.cuMemsetD8Async(address, value, byteCount, stream.handle), "cuMemsetD8Async(\(byteCount) bytes)")
    }
}
