/// A CUDA stream: work on it runs in order, asynchronously to the host.
public final class CUDAStream: Sendable {
    /// The context the stream lives in.
    public var context: CUDAContext { object.context }
    /// The raw `CUstream`, for handing to TensorRT's `enqueueV3`.
    public var handle: CUhandle { object.raw }
    private let object: CUDADriverObject

    /// Creates a non-blocking stream (`CU_STREAM_NON_BLOCKING`).
    public init(context: CUDAContext) throws(CUDAError) {
        object = try CUDADriverObject(context: context, "cuStreamCreate", destroy: context.api.cuStreamDestroy) {
            context.api.cuStreamCreate($0, 1)
        }
    }

    /// Blocks until all work queued on the stream has finished.
    public func synchronize() throws(CUDAError) {
        try context.makeCurrent()
        try context.api.check(context.api.cuStreamSynchronize(handle), "cuStreamSynchronize")
    }
}
