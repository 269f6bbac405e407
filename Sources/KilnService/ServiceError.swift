import KilnCore

/// A service's system interface failed (the systemd notification socket); names the input.
public struct ServiceError: KilnError {
    /// What failed, naming the input.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitCode: ExitCode { .runtimeFailure }
}
