/// Page-locked host memory (`cuMemHostAlloc`): fast asynchronous copies, and on integrated GPUs
/// (Jetson) a device address for the same bytes, so copies can be skipped entirely (zero-copy).
public final class PinnedHostBuffer: Sendable {
    /// The context it was allocated in.
    public let context: CUDAContext
    /// The host address.
    public var pointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: hostAddress)! }
    /// The host address as a number (immutable state, like `DeviceBuffer.address`).
    private let hostAddress: UInt
    /// Size in bytes.
    public let byteCount: Int
    /// The device address of the same memory when mapped (`mapped: true`), else `nil`.
    public let deviceAddress: CUdeviceptr?

    /// Allocates `byteCount` pinned bytes; `mapped` also maps them into the device's address space.
    public init(context: CUDAContext, byteCount: Int, mapped: Bool = false) throws(CUDAError) {
        guard byteCount > 0 else { throw .invalidArgument("PinnedHostBuffer: byte count must be positive, got \(byteCount)") }
        if mapped && !context.device.canMapHostMemory {
            throw .invalidArgument("PinnedHostBuffer: device \(context.device.name) cannot map host memory; allocate unmapped")
        }
        self.context = context
        self.byteCount = byteCount
        try context.makeCurrent()
        var p: UnsafeMutableRawPointer?
        let flags = CUMemHostAllocFlag.portable | (mapped ? CUMemHostAllocFlag.deviceMap : 0)
        try context.api.check(context.api.cuMemHostAlloc(&p, byteCount, flags), "cuMemHostAlloc(\(byteCount) bytes)")
        guard let p else { throw .invalidArgument("cuMemHostAlloc returned no memory") }
        hostAddress = UInt(bitPattern: p)
        if mapped {
            var d: CUdeviceptr = 0
            let r = context.api.cuMemHostGetDevicePointer(&d, p, 0)
            if r != 0 {
                _ = context.api.cuMemFreeHost(p)
                throw context.api.error(r, "cuMemHostGetDevicePointer")
            }
            deviceAddress = d
        } else {
            deviceAddress = nil
        }
    }

    deinit {
        _ = context.api.cuCtxSetCurrent(context.handle)
        _ = context.api.cuMemFreeHost(pointer)
    }
}
