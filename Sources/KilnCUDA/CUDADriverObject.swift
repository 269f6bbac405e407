/// A driver object (stream, event, module) created in a context and destroyed, in that context,
/// when its wrapper lets go of it: the one place that pairs a creating call with its destroying one.
final class CUDADriverObject: Sendable {
    /// The context the object lives in, kept alive as long as the object.
    let context: CUDAContext
    /// The driver's pointer.
    var raw: CUhandle { handle.raw }
    private let handle: CUDAHandle
    private let destroy: @convention(c) (CUhandle) -> CUresult

    /// Creates the object with `create` in `context` (a failure throws naming `call`); `destroy`
    /// releases it.
    init(context: CUDAContext, _ call: String, destroy: @convention(c) (CUhandle) -> CUresult,
         create: (UnsafeMutablePointer<CUhandle?>) -> CUresult) throws(CUDAError) {
        self.context = context
        self.destroy = destroy
        handle = try context.makeHandle(call, create)
    }

    deinit {
        _ = context.api.cuCtxSetCurrent(context.handle)
        _ = destroy(handle.raw)
    }
}
