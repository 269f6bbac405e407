import Glibc

// The CUDA driver API and NVRTC, declared by hand as C function pointers resolved with dlopen/dlsym.
// This is the ONLY file that names CUDA's C symbols; everything else goes through these tables.
// Types follow cuda.h / nvrtc.h: CUresult and nvrtcResult are C enums (Int32), CUdevice is an
// int, CUdeviceptr is a 64-bit integer, handles are opaque pointers.

/// `CUresult` / `nvrtcResult`: 0 is success.
typealias CUresult = Int32
/// `CUdeviceptr`: a device address.
public typealias CUdeviceptr = UInt64
/// An opaque CUDA handle (`CUcontext`, `CUstream`, `CUevent`, `CUmodule`, `CUfunction`, `nvrtcProgram`).
public typealias CUhandle = OpaquePointer

/// CUdevice_attribute values Kiln reads (cuda.h).
enum CUDeviceAttribute: Int32 {
    /// `CU_DEVICE_ATTRIBUTE_…` 16: multiprocessorCount.
    case multiprocessorCount = 16
    /// `CU_DEVICE_ATTRIBUTE_…` 18: integrated.
    case integrated = 18
    /// `CU_DEVICE_ATTRIBUTE_…` 19: canMapHostMemory.
    case canMapHostMemory = 19
    /// `CU_DEVICE_ATTRIBUTE_…` 33: pciBusID.
    case pciBusID = 33
    /// `CU_DEVICE_ATTRIBUTE_…` 38: l2CacheSize.
    case l2CacheSize = 38
    /// `CU_DEVICE_ATTRIBUTE_…` 50: pciDomainID.
    case pciDomainID = 50
    /// `CU_DEVICE_ATTRIBUTE_…` 75: computeCapabilityMajor.
    case computeCapabilityMajor = 75
    /// `CU_DEVICE_ATTRIBUTE_…` 76: computeCapabilityMinor.
    case computeCapabilityMinor = 76
}

/// `cuMemHostAlloc` flags (cuda.h).
enum CUMemHostAllocFlag {
    /// `CU_MEMHOSTALLOC_PORTABLE`: pinned for every context.
    static let portable: UInt32 = 0x01
    /// `CU_MEMHOSTALLOC_DEVICEMAP`: mapped into the device address space.
    static let deviceMap: UInt32 = 0x02
}

/// Opens the first library of `names` that loads; the error names every name tried.
func openLibrary(_ names: [String]) -> Result<(handle: UnsafeMutableRawPointer, name: String), CUDAError> {
    var reasons: [String] = []
    for name in names {
        if let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) { return .success((handle, name)) }
        reasons.append(dlerror().map { String(cString: $0) } ?? name)
    }
    return .failure(.libraryUnavailable(library: names.joined(separator: ", "), reason: reasons.last ?? "not found"))
}

/// Resolves `names` in order (e.g. `cuMemAlloc_v2`, then `cuMemAlloc`) and casts to `T`.
private func symbol<T>(_ handle: UnsafeMutableRawPointer, _ library: String, _ names: String...) throws(CUDAError) -> T {
    for name in names {
        if let sym = dlsym(handle, name) { return unsafeBitCast(sym, to: T.self) }
    }
    throw .missingSymbol(library: library, symbol: names.joined(separator: "/"))
}

/// The CUDA driver API (`libcuda.so.1`), loaded once per process.
final class CUDADriverFunctions: Sendable {
    /// The library that was loaded.
    let libraryName: String

    /// `cuInit` (cuda.h).
    let cuInit: @convention(c) (UInt32) -> CUresult
    /// `cuDriverGetVersion` (cuda.h).
    let cuDriverGetVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> CUresult
    /// `cuGetErrorName` (cuda.h).
    let cuGetErrorName: @convention(c) (CUresult, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> CUresult
    /// `cuGetErrorString` (cuda.h).
    let cuGetErrorString: @convention(c) (CUresult, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> CUresult
    /// `cuDeviceGetCount` (cuda.h).
    let cuDeviceGetCount: @convention(c) (UnsafeMutablePointer<Int32>) -> CUresult
    /// `cuDeviceGet` (cuda.h).
    let cuDeviceGet: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> CUresult
    /// `cuDeviceGetName` (cuda.h).
    let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> CUresult
    /// `cuDeviceGetAttribute` (cuda.h).
    let cuDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> CUresult
    /// `cuDeviceTotalMem` (cuda.h).
    let cuDeviceTotalMem: @convention(c) (UnsafeMutablePointer<Int>, Int32) -> CUresult
    /// `cuDeviceGetUuid` (cuda.h).
    let cuDeviceGetUuid: @convention(c) (UnsafeMutableRawPointer, Int32) -> CUresult
    /// `cuDevicePrimaryCtxRetain` (cuda.h).
    let cuDevicePrimaryCtxRetain: @convention(c) (UnsafeMutablePointer<CUhandle?>, Int32) -> CUresult
    /// `cuDevicePrimaryCtxRelease` (cuda.h).
    let cuDevicePrimaryCtxRelease: @convention(c) (Int32) -> CUresult
    /// `cuCtxSetCurrent` (cuda.h).
    let cuCtxSetCurrent: @convention(c) (CUhandle?) -> CUresult
    /// `cuCtxSynchronize` (cuda.h).
    let cuCtxSynchronize: @convention(c) () -> CUresult
    /// `cuMemGetInfo` (cuda.h).
    let cuMemGetInfo: @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> CUresult
    /// `cuMemAlloc` (cuda.h).
    let cuMemAlloc: @convention(c) (UnsafeMutablePointer<CUdeviceptr>, Int) -> CUresult
    /// `cuMemFree` (cuda.h).
    let cuMemFree: @convention(c) (CUdeviceptr) -> CUresult
    /// `cuMemHostAlloc` (cuda.h).
    let cuMemHostAlloc: @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>, Int, UInt32) -> CUresult
    /// `cuMemFreeHost` (cuda.h).
    let cuMemFreeHost: @convention(c) (UnsafeMutableRawPointer) -> CUresult
    /// `cuMemHostGetDevicePointer` (cuda.h).
    let cuMemHostGetDevicePointer: @convention(c) (UnsafeMutablePointer<CUdeviceptr>, UnsafeMutableRawPointer, UInt32) -> CUresult
    /// `cuMemcpyHtoDAsync` (cuda.h).
    let cuMemcpyHtoDAsync: @convention(c) (CUdeviceptr, UnsafeRawPointer, Int, CUhandle?) -> CUresult
    /// `cuMemcpyDtoHAsync` (cuda.h).
    let cuMemcpyDtoHAsync: @convention(c) (UnsafeMutableRawPointer, CUdeviceptr, Int, CUhandle?) -> CUresult
    /// `cuMemcpyDtoDAsync` (cuda.h).
    let cuMemcpyDtoDAsync: @convention(c) (CUdeviceptr, CUdeviceptr, Int, CUhandle?) -> CUresult
    /// `cuMemsetD8Async` (cuda.h).
    let cuMemsetD8Async: @convention(c) (CUdeviceptr, UInt8, Int, CUhandle?) -> CUresult
    /// `cuStreamCreate` (cuda.h).
    let cuStreamCreate: @convention(c) (UnsafeMutablePointer<CUhandle?>, UInt32) -> CUresult
    /// `cuStreamDestroy` (cuda.h).
    let cuStreamDestroy: @convention(c) (CUhandle) -> CUresult
    /// `cuStreamSynchronize` (cuda.h).
    let cuStreamSynchronize: @convention(c) (CUhandle?) -> CUresult
    /// `cuEventCreate` (cuda.h).
    let cuEventCreate: @convention(c) (UnsafeMutablePointer<CUhandle?>, UInt32) -> CUresult
    /// `cuEventDestroy` (cuda.h).
    let cuEventDestroy: @convention(c) (CUhandle) -> CUresult
    /// `cuEventRecord` (cuda.h).
    let cuEventRecord: @convention(c) (CUhandle, CUhandle?) -> CUresult
    /// `cuEventSynchronize` (cuda.h).
    let cuEventSynchronize: @convention(c) (CUhandle) -> CUresult
    /// `cuEventElapsedTime` (cuda.h).
    let cuEventElapsedTime: @convention(c) (UnsafeMutablePointer<Float>, CUhandle, CUhandle) -> CUresult
    /// `cuModuleLoadData` (cuda.h).
    let cuModuleLoadData: @convention(c) (UnsafeMutablePointer<CUhandle?>, UnsafeRawPointer) -> CUresult
    /// `cuModuleUnload` (cuda.h).
    let cuModuleUnload: @convention(c) (CUhandle) -> CUresult
    /// `cuModuleGetFunction` (cuda.h).
    let cuModuleGetFunction: @convention(c) (UnsafeMutablePointer<CUhandle?>, CUhandle, UnsafePointer<CChar>) -> CUresult
    /// `cuLaunchKernel` (cuda.h).
    let cuLaunchKernel: @convention(c) (
        CUhandle, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, CUhandle?,
        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    ) -> CUresult

    /// Loads `libcuda.so.1` (or `KILN_LIBCUDA`) and resolves every function; throws naming what is missing.
    init() throws(CUDAError) {
        var names = ["libcuda.so.1", "libcuda.so"]
        if let custom = getenv("KILN_LIBCUDA") { names.insert(String(cString: custom), at: 0) }
        let (h, name): (UnsafeMutableRawPointer, String)
        switch openLibrary(names) {
        case .success(let lib): (h, name) = lib
        case .failure(let error): throw error
        }
        libraryName = name
        cuInit = try symbol(h, name, "cuInit")
        cuDriverGetVersion = try symbol(h, name, "cuDriverGetVersion")
        cuGetErrorName = try symbol(h, name, "cuGetErrorName")
        cuGetErrorString = try symbol(h, name, "cuGetErrorString")
        cuDeviceGetCount = try symbol(h, name, "cuDeviceGetCount")
        cuDeviceGet = try symbol(h, name, "cuDeviceGet")
        cuDeviceGetName = try symbol(h, name, "cuDeviceGetName")
        cuDeviceGetAttribute = try symbol(h, name, "cuDeviceGetAttribute")
        cuDeviceTotalMem = try symbol(h, name, "cuDeviceTotalMem_v2")
        cuDeviceGetUuid = try symbol(h, name, "cuDeviceGetUuid_v2", "cuDeviceGetUuid")
        cuDevicePrimaryCtxRetain = try symbol(h, name, "cuDevicePrimaryCtxRetain")
        cuDevicePrimaryCtxRelease = try symbol(h, name, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease")
        cuCtxSetCurrent = try symbol(h, name, "cuCtxSetCurrent")
        cuCtxSynchronize = try symbol(h, name, "cuCtxSynchronize")
        cuMemGetInfo = try symbol(h, name, "cuMemGetInfo_v2")
        cuMemAlloc = try symbol(h, name, "cuMemAlloc_v2")
        cuMemFree = try symbol(h, name, "cuMemFree_v2")
        cuMemHostAlloc = try symbol(h, name, "cuMemHostAlloc")
        cuMemFreeHost = try symbol(h, name, "cuMemFreeHost")
        cuMemHostGetDevicePointer = try symbol(h, name, "cuMemHostGetDevicePointer_v2")
        cuMemcpyHtoDAsync = try symbol(h, name, "cuMemcpyHtoDAsync_v2")
        cuMemcpyDtoHAsync = try symbol(h, name, "cuMemcpyDtoHAsync_v2")
        cuMemcpyDtoDAsync = try symbol(h, name, "cuMemcpyDtoDAsync_v2")
        cuMemsetD8Async = try symbol(h, name, "cuMemsetD8Async")
        cuStreamCreate = try symbol(h, name, "cuStreamCreate")
        cuStreamDestroy = try symbol(h, name, "cuStreamDestroy_v2")
        cuStreamSynchronize = try symbol(h, name, "cuStreamSynchronize")
        cuEventCreate = try symbol(h, name, "cuEventCreate")
        cuEventDestroy = try symbol(h, name, "cuEventDestroy_v2")
        cuEventRecord = try symbol(h, name, "cuEventRecord")
        cuEventSynchronize = try symbol(h, name, "cuEventSynchronize")
        cuEventElapsedTime = try symbol(h, name, "cuEventElapsedTime_v2", "cuEventElapsedTime")
        cuModuleLoadData = try symbol(h, name, "cuModuleLoadData")
        cuModuleUnload = try symbol(h, name, "cuModuleUnload")
        cuModuleGetFunction = try symbol(h, name, "cuModuleGetFunction")
        cuLaunchKernel = try symbol(h, name, "cuLaunchKernel")
    }
}

/// NVRTC (`libnvrtc.so.13`, `.12`, `.11.2`, …), loaded once per process.
final class NVRTCFunctions: Sendable {
    /// The library that was loaded.
    let libraryName: String

    /// `nvrtcVersion` (nvrtc.h).
    let nvrtcVersion: @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> CUresult
    /// `nvrtcGetErrorString` (nvrtc.h).
    let nvrtcGetErrorString: @convention(c) (CUresult) -> UnsafePointer<CChar>?
    /// `nvrtcCreateProgram` (nvrtc.h).
    let nvrtcCreateProgram: @convention(c) (
        UnsafeMutablePointer<CUhandle?>, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int32,
        UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?
    ) -> CUresult
    /// `nvrtcDestroyProgram` (nvrtc.h).
    let nvrtcDestroyProgram: @convention(c) (UnsafeMutablePointer<CUhandle?>) -> CUresult
    /// `nvrtcCompileProgram` (nvrtc.h).
    let nvrtcCompileProgram: @convention(c) (CUhandle, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> CUresult
    /// `nvrtcGetProgramLogSize` (nvrtc.h).
    let nvrtcGetProgramLogSize: @convention(c) (CUhandle, UnsafeMutablePointer<Int>) -> CUresult
    /// `nvrtcGetProgramLog` (nvrtc.h).
    let nvrtcGetProgramLog: @convention(c) (CUhandle, UnsafeMutablePointer<CChar>) -> CUresult
    /// `nvrtcGetCUBIN(Size)`: NVRTC ≥ 11.1; older NVRTC only produces PTX.
    let nvrtcGetCUBINSize: (@convention(c) (CUhandle, UnsafeMutablePointer<Int>) -> CUresult)?
    /// `nvrtcGetCUBIN` (nvrtc.h).
    let nvrtcGetCUBIN: (@convention(c) (CUhandle, UnsafeMutablePointer<CChar>) -> CUresult)?
    /// `nvrtcGetPTXSize` (nvrtc.h).
    let nvrtcGetPTXSize: @convention(c) (CUhandle, UnsafeMutablePointer<Int>) -> CUresult
    /// `nvrtcGetPTX` (nvrtc.h).
    let nvrtcGetPTX: @convention(c) (CUhandle, UnsafeMutablePointer<CChar>) -> CUresult

    /// Loads NVRTC: `path` if given, else `KILN_LIBNVRTC`, else the newest soname that loads.
    init(path: String? = nil) throws(CUDAError) {
        var names = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so.11.1", "libnvrtc.so.11.0",
                     "libnvrtc.so.10.2", "libnvrtc.so"]
        if let custom = getenv("KILN_LIBNVRTC") { names.insert(String(cString: custom), at: 0) }
        if let path { names = [path] }
        let (h, name): (UnsafeMutableRawPointer, String)
        switch openLibrary(names) {
        case .success(let lib): (h, name) = lib
        case .failure(let error): throw error
        }
        libraryName = name
        nvrtcVersion = try symbol(h, name, "nvrtcVersion")
        nvrtcGetErrorString = try symbol(h, name, "nvrtcGetErrorString")
        nvrtcCreateProgram = try symbol(h, name, "nvrtcCreateProgram")
        nvrtcDestroyProgram = try symbol(h, name, "nvrtcDestroyProgram")
        nvrtcCompileProgram = try symbol(h, name, "nvrtcCompileProgram")
        nvrtcGetProgramLogSize = try symbol(h, name, "nvrtcGetProgramLogSize")
        nvrtcGetProgramLog = try symbol(h, name, "nvrtcGetProgramLog")
        nvrtcGetCUBINSize = dlsym(h, "nvrtcGetCUBINSize").map {
            unsafeBitCast($0, to: (@convention(c) (CUhandle, UnsafeMutablePointer<Int>) -> CUresult).self)
        }
        nvrtcGetCUBIN = dlsym(h, "nvrtcGetCUBIN").map {
            unsafeBitCast($0, to: (@convention(c) (CUhandle, UnsafeMutablePointer<CChar>) -> CUresult).self)
        }
        nvrtcGetPTXSize = try symbol(h, name, "nvrtcGetPTXSize")
        nvrtcGetPTX = try symbol(h, name, "nvrtcGetPTX")
    }
}
