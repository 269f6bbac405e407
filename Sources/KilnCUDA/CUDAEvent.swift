/// A CUDA event, for timing device work and ordering streams.
public final class CUDAEvent: Sendable {
    /// The context the event lives in.
    var context: CUDAContext { object.context }
    /// The raw `CUevent`.
    var handle: CUhandle { object.raw }
    private let object: CUDADriverObject

    /// Creates an event with timing enabled.
    public init(context: CUDAContext) throws(CUDAError) {
        object = try CUDADriverObject(context: context, "cuEventCreate", destroy: context.api.cuEventDestroy) {
            context.api.cuEventCreate($0, 0)
        }
    }

    /// Records the event on `stream`.
    public func record(on stream: CUDAStream) throws(CUDAError) {
        try context.makeCurrent()
        try context.api.check(context.api.cuEventRecord(handle, stream.handle), "cuEventRecord")
    }

    /// Blocks until the event has completed.
    public func synchronize() throws(CUDAError) {
        try context.makeCurrent()
        try context.api.check(context.api.cuEventSynchronize(handle), "cuEventSynchronize")
    }

    /// Milliseconds of device time between `start` and this event (both recorded and completed).
    public func milliseconds(since start: CUDAEvent) throws(CUDAError) -> Double {
        try context.makeCurrent()
        var ms: Float = 0
        try context.api.check(context.api.cuEventElapsedTime(&ms, start.handle, handle), "cuEventElapsedTime")
        return Double(ms)
    }
}
