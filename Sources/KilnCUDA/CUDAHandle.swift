/// A CUDA driver object (context, stream, module, function, event) as the driver hands it out.
///
/// The classes that own these handles keep only immutable state, so they are `Sendable` through
/// this one wrapper rather than each on its own say-so.
// unchecked: the CUDA driver API is thread-safe; a handle may be passed to it from any thread.
struct CUDAHandle: @unchecked Sendable {
    /// The driver's pointer.
    let raw: CUhandle

    /// Wraps `raw`.
    init(_ raw: CUhandle) { self.raw = raw }
}
