import KilnCore

/// A TensorRT failure, with the bridge's status and message (which names the input at fault).
public typealias TensorRTError = KindedError<TensorRTErrorKind>

/// What kind of TensorRT failure (`TensorRTError.Kind`).
public enum TensorRTErrorKind: String, ErrorKind {
    /// Kiln was built without TensorRT headers and no trtexec was found.
    case unavailable
    /// libnvinfer or the ONNX parser could not be loaded.
    case libraryNotFound
    /// The loaded TensorRT differs in major version from the headers Kiln was built with.
    case versionMismatch
    /// The ONNX parser rejected the model.
    case parseFailed
    /// A build option or input does not fit the model.
    case invalidArgument
    /// The builder failed for a reason other than memory.
    case buildFailed
    /// The build ran out of memory (after every workspace retry, when it comes from the isolated builder).
    case outOfMemory
    /// The engine could not be deserialized.
    case deserializeFailed
    /// Running the engine failed.
    case executionFailed
    /// The build was cancelled or timed out.
    case cancelled
    /// TensorRT found no implementation for a layer within the workspace ("Could not find any
    /// implementation for node"): a larger workspace may help.
    case noImplementation

    /// Model problems are exit code 3; missing libraries, memory and device failures are 1; bad options 2.
    public var exitCode: ExitCode {
        switch self {
        case .parseFailed, .deserializeFailed: .invalidModel
        case .invalidArgument: .usage
        default: .runtimeFailure
        }
    }
}
