/// A loaded module (cubin or PTX) and the kernels in it.
public final class CUDAModule: Sendable {
    /// The context it was loaded into.
    public var context: CUDAContext { object.context }
    /// The raw `CUmodule`.
    var handle: CUhandle { object.raw }
    private let object: CUDADriverObject

    /// Loads a cubin or NUL-terminated PTX image.
    public init(context: CUDAContext, image: [UInt8]) throws(CUDAError) {
        var bytes = image
        if bytes.last != 0 { bytes.append(0) }  // PTX must be NUL-terminated; harmless after a cubin.
        object = try CUDADriverObject(context: context, "cuModuleLoadData(\(image.count) bytes)", destroy: context.api.cuModuleUnload) { m in
            bytes.withUnsafeBytes { context.api.cuModuleLoadData(m, $0.baseAddress!) }
        }
    }

    /// The kernel named `name` (an `extern "C"` symbol).
    public func function(_ name: String) throws(CUDAError) -> CUDAFunction {
        let module = handle
        let function = try context.makeHandle("cuModuleGetFunction(\(name))") { context.api.cuModuleGetFunction($0, module, name) }
        return CUDAFunction(module: self, driverHandle: function, name: name)
    }
}

/// A kernel in a loaded module.
public struct CUDAFunction: Sendable {
    /// The module that owns it (kept alive by this reference).
    public let module: CUDAModule
    /// The raw `CUmodule` / `CUfunction`.
    var handle: CUhandle { driverHandle.raw }
    let driverHandle: CUDAHandle
    /// The kernel's name.
    public let name: String

    /// Launches the kernel with one by-value argument block (a C struct's bytes) on `stream`.
    public func launch(grid: (Int, Int, Int), block: (Int, Int, Int), sharedBytes: Int = 0, stream: CUDAStream,
                       argument: [UInt8]) throws(CUDAError) {
        let api = module.context.api
        try module.context.makeCurrent()
        var storage = argument
        let r = storage.withUnsafeMutableBytes { raw -> CUresult in
            var params: [UnsafeMutableRawPointer?] = [raw.baseAddress]
            return params.withUnsafeMutableBufferPointer { p in
                api.cuLaunchKernel(handle, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(block.0), UInt32(block.1),
                                   UInt32(block.2), UInt32(sharedBytes), stream.handle, p.baseAddress, nil)
            }
        }
        try api.check(r, "cuLaunchKernel(\(name), grid \(grid), block \(block))")
    }
}
