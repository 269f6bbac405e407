/// The process exit codes Kiln documents for every command.
///
/// 0 ok, 1 runtime failure, 2 usage error, 3 invalid model or engine, 4 a required component
/// (TensorRT, CUDA, NVRTC) is not installed.
public enum ExitCode: Int32, Sendable {
    /// The command did what it was asked.
    case ok = 0
    /// Something failed at run time (I/O, network, device).
    case runtimeFailure = 1
    /// The command line was wrong; the message says which flag and how to fix it.
    case usage = 2
    /// A model or engine file is invalid, unsupported or failed verification.
    case invalidModel = 3
    /// A component the command needs (TensorRT, the CUDA driver, NVRTC) is not installed; the
    /// message names it, where Kiln looked, and how to install it (`kiln selftest`).
    case componentMissing = 4
}

/// An error that knows which exit code it maps to and how to explain itself to a user.
///
/// Every Kiln error type conforms, so the CLI can print `description` and exit with `exitCode`.
public protocol KilnError: Error, CustomStringConvertible, Sendable {
    /// The exit code the CLI uses when this error ends a command.
    var exitCode: ExitCode { get }
}

/// A command-line usage error: the message names the flag or argument and the fix.
public struct UsageError: KilnError {
    /// What was wrong and how to fix it.
    public var message: String
    /// Creates a usage error with a message that names the input and the fix.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitCode: ExitCode { .usage }
}

/// A run-time failure with a message naming the failing input.
public struct RuntimeError: KilnError {
    /// What failed, naming the input.
    public var message: String
    /// Creates a runtime error.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitCode: ExitCode { .runtimeFailure }
}

/// A model or engine that cannot be used: malformed, unsupported, corrupt or failing verification.
public struct InvalidModelError: KilnError {
    /// What is wrong with which model or engine.
    public var message: String
    /// Creates an invalid-model error.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitCode: ExitCode { .invalidModel }
}
