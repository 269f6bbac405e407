import Glibc
import KilnCore
import Synchronization

/// Entry point to the GPU: loads the driver and NVRTC on first use and reports what is there.
///
/// Nothing is loaded until asked; a machine without the NVIDIA driver gets `CUDAError
/// .libraryUnavailable` naming the library, never a crash.
public enum CUDA {
    private static let driverState = Mutex<Result<CUDADriverFunctions, CUDAError>?>(nil)
    private static let nvrtcState = Mutex<Result<NVRTCFunctions, CUDAError>?>(nil)

    /// The driver API, loaded and `cuInit`ed once.
    static func driver() throws(CUDAError) -> CUDADriverFunctions {
        let result = driverState.withLock { state -> Result<CUDADriverFunctions, CUDAError> in
            if let state { return state }
            let loaded: Result<CUDADriverFunctions, CUDAError>
            do throws(CUDAError) {
                let api = try CUDADriverFunctions()
                try api.check(api.cuInit(0), "cuInit(0)")
                loaded = .success(api)
            } catch {
                loaded = .failure(error)
            }
            state = loaded
            return loaded
        }
        return try result.get()
    }

    /// NVRTC, loaded once.
    static func nvrtc() throws(CUDAError) -> NVRTCFunctions {
        let result = nvrtcState.withLock { state -> Result<NVRTCFunctions, CUDAError> in
            if let state { return state }
            let loaded: Result<NVRTCFunctions, CUDAError>
            do throws(CUDAError) { loaded = .success(try NVRTCFunctions()) } catch { loaded = .failure(error) }
            state = loaded
            return loaded
        }
        return try result.get()
    }

    /// Why the GPU path cannot be used here, or `nil` when libcuda loads and a device exists.
    public static func unavailableReason() -> String? {
        do {
            return try deviceCount() > 0 ? nil : CUDAError.noDevice(index: 0, count: 0).description
        } catch {
            return error.description
        }
    }

    /// The number of CUDA devices.
    public static func deviceCount() throws(CUDAError) -> Int {
        let api = try driver()
        var count: Int32 = 0
        try api.check(api.cuDeviceGetCount(&count), "cuDeviceGetCount")
        return Int(count)
    }

    /// `cuDriverGetVersion`: 13000 for CUDA 13.0.
    public static func driverVersion() throws(CUDAError) -> Int {
        let api = try driver()
        var version: Int32 = 0
        try api.check(api.cuDriverGetVersion(&version), "cuDriverGetVersion")
        return Int(version)
    }

    /// NVRTC's version (the CUDA runtime compiler that builds Kiln's kernels).
    public static func nvrtcVersion() throws(CUDAError) -> (major: Int, minor: Int) {
        let api = try nvrtc()
        var major: Int32 = 0, minor: Int32 = 0
        try api.check(api.nvrtcVersion(&major, &minor), "nvrtcVersion")
        return (Int(major), Int(minor))
    }

    /// The loaded libraries, for `kiln doctor`: `libcuda.so.1`, `libnvrtc.so.13`.
    public static func loadedLibraries() -> [String] {
        [try? driver().libraryName, try? nvrtc().libraryName].compactMap { $0 }
    }
}
