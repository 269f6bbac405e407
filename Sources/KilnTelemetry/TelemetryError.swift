import KilnCore

/// An error of the telemetry server or pusher, naming the address or URL.
public struct TelemetryError: KilnError {
    /// What failed, naming the input.
    public var message: String
    /// The exit code: usage for bad addresses, runtime otherwise.
    public var exitCode: ExitCode
    /// Creates an error.
    public init(_ message: String, exitCode: ExitCode = .runtimeFailure) {
        self.message = message
        self.exitCode = exitCode
    }
    public var description: String { message }
}
