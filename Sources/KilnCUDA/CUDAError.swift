import KilnCore

/// A failure of the CUDA driver, NVRTC, or the libraries that provide them.
///
/// This file is the one place where `CUresult` and `nvrtcResult` codes become Swift errors
/// (`CUDA.check` and `NVRTC.check`); every message names the call that failed and its input.
public enum CUDAError: KilnError, Equatable {
    /// A shared library could not be loaded (no NVIDIA driver, no CUDA toolkit's NVRTC).
    case libraryUnavailable(library: String, reason: String)
    /// A library loaded but lacks a function Kiln needs (too old).
    case missingSymbol(library: String, symbol: String)
    /// A driver API call failed: the call, the `CUresult` code and name, the driver's message.
    case driver(call: String, code: Int32, name: String, message: String)
    /// An NVRTC call failed.
    case nvrtc(call: String, code: Int32, message: String)
    /// NVRTC rejected a kernel source: its name, the target, and the compiler log.
    case compilation(program: String, target: String, log: String)
    /// No CUDA device is present (or the index is out of range).
    case noDevice(index: Int, count: Int)
    /// An argument Kiln passed in is invalid for the GPU operation; the message names it.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .libraryUnavailable(library, reason):
            "CUDA unavailable: could not load \(library) (\(reason)); install the NVIDIA driver (libcuda) and the CUDA toolkit's NVRTC, or run with the CPU path"
        case let .missingSymbol(library, symbol):
            "CUDA unavailable: \(library) has no \(symbol); the driver or toolkit is too old for Kiln"
        case let .driver(call, code, name, message):
            "CUDA \(call) failed: \(name) (\(code)): \(message)"
        case let .nvrtc(call, code, message):
            "NVRTC \(call) failed (\(code)): \(message)"
        case let .compilation(program, target, log):
            "NVRTC could not compile \(program) for \(target):\n\(log)"
        case let .noDevice(index, count):
            count == 0 ? "no CUDA device found (cuDeviceGetCount returned 0)" : "CUDA device \(index) does not exist; this machine has \(count)"
        case let .invalidArgument(message):
            message
        }
    }

    /// Compilation failures mean the kernel source is bad, not the machine; everything else is runtime.
    public var exitCode: ExitCode { .runtimeFailure }

    /// True for out-of-memory results (`CUDA_ERROR_OUT_OF_MEMORY`, 2).
    public var isOutOfMemory: Bool {
        if case let .driver(_, code, _, _) = self { return code == 2 }
        return false
    }
}

extension CUDADriverFunctions {
    /// Throws `CUDAError.driver` for any non-zero `CUresult`, with the driver's name and message.
    @inline(__always)
    func check(_ result: CUresult, _ call: @autoclosure () -> String) throws(CUDAError) {
        if result != 0 { throw error(result, call()) }
    }

    /// The error for a failed `CUresult`.
    func error(_ result: CUresult, _ call: String) -> CUDAError {
        var name: UnsafePointer<CChar>?
        var message: UnsafePointer<CChar>?
        _ = cuGetErrorName(result, &name)
        _ = cuGetErrorString(result, &message)
        return .driver(call: call, code: result, name: name.map { String(cString: $0) } ?? "CUDA_ERROR_\(result)",
                       message: message.map { String(cString: $0) } ?? "unknown error")
    }
}

extension NVRTCFunctions {
    /// Throws `CUDAError.nvrtc` for any non-zero `nvrtcResult`, with NVRTC's message.
    @inline(__always)
    func check(_ result: CUresult, _ call: @autoclosure () -> String) throws(CUDAError) {
        if result != 0 {
            throw .nvrtc(call: call(), code: result, message: nvrtcGetErrorString(result).map { String(cString: $0) } ?? "unknown error")
        }
    }
}
