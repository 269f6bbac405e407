/// A CUDA stream: work on it runs in order, asynchronously to the host.
public final class CUDAStream: Sendable {
    /// The context the stream lives in.
    public let context: CUDAContext
    /// The raw `CUstream`, for handing to TensorRT's `enqueueV3`.
    public var handle: CUhandle { driverHandle.raw }
    private let driverHandle: CUDAHandle

    /// Creates a non-blocking stream (`CU_STREAM_NON_BLOCKING`).
    public init(context: CUDAContext) throws(CUDAError) {
        self.context = context
        driverHandle = try context.makeHandle("cuStreamCreate") { context.api.cuStreamCreate($0, 1) }
    }

    deinit {
        _ = context.api.cuCtxSetCurrent(context.handle)
        _ = context.api.cuStreamDestroy(handle)
    }

    /// Blocks until all work queued on the stream has finished.
    public func synchronize() throws(CUDAError) {
        try context.makeCurrent()
        try context.api.check(context.api.cuStreamSynchronize(handle), "cuStreamSynchronize")
    }
}
