import KilnCore

/// A device's primary context, retained for the object's lifetime.
///
/// CUDA contexts are current per thread: every Kiln GPU call first makes its context current on
/// the calling thread (`makeCurrent()`), so objects may move between Kiln's dedicated threads, but
/// each object is used by one thread at a time.
public final class CUDAContext: Sendable {
    /// The device this context belongs to.
    public let device: CUDADevice
    /// The driver API the context was created through.
    let api: CUDADriverFunctions
    /// The retained primary `CUcontext`.
    var handle: CUhandle { driverHandle.raw }
    private let driverHandle: CUDAHandle

    /// Retains device `index`'s primary context.
    public init(device index: Int = 0) throws(CUDAError) {
        api = try CUDA.driver()
        device = try CUDADevice.query(index)
        var ctx: CUhandle?
        try api.check(api.cuDevicePrimaryCtxRetain(&ctx, Int32(index)), "cuDevicePrimaryCtxRetain(\(index))")
        guard let ctx else { throw .invalidArgument("cuDevicePrimaryCtxRetain(\(index)) returned no context") }
        driverHandle = CUDAHandle(ctx)
        try makeCurrent()
    }

    deinit { _ = api.cuDevicePrimaryCtxRelease(Int32(device.index)) }

    /// Makes this context current on the calling thread.
    public func makeCurrent() throws(CUDAError) {
        try api.check(api.cuCtxSetCurrent(handle), "cuCtxSetCurrent(device \(device.index))")
    }

    /// Makes this context current and creates a driver object (stream, event, module, function):
    /// `create` fills in the handle; a failed call, or none handed out, throws naming `call`.
    func makeHandle(_ call: String, _ create: (UnsafeMutablePointer<CUhandle?>) -> CUresult) throws(CUDAError) -> CUDAHandle {
        try makeCurrent()
        var handle: CUhandle?
        try api.check(create(&handle), call)
        guard let handle else { throw .invalidArgument("\(call) returned no handle") }
        return CUDAHandle(handle)
    }

    /// Waits for all work in the context.
    public func synchronize() throws(CUDAError) {
        try makeCurrent()
        try api.check(api.cuCtxSynchronize(), "cuCtxSynchronize")
    }

    /// Free and total device memory in bytes (`cuMemGetInfo`).
    public func memoryInfo() throws(CUDAError) -> (free: Int, total: Int) {
        try makeCurrent()
        var free = 0, total = 0
        try api.check(api.cuMemGetInfo(&free, &total), "cuMemGetInfo")
        return (free, total)
    }
}
