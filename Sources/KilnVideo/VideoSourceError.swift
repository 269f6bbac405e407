import KilnCore

/// A video source that cannot be opened or read, naming the source and the fix.
public struct VideoSourceError: KilnError {
    /// What failed, naming the source.
    public var message: String
    /// Usage for bad `--source` text, runtime for I/O and device failures.
    public var exitCode: ExitCode
    /// True when the stream ended early (empty or mid-frame), which a failing producer explains better.
    var endedEarly = false

    /// Creates an error.
    public init(_ message: String, exitCode: ExitCode = .runtimeFailure) {
        self.message = message
        self.exitCode = exitCode
    }

    /// A usage error (bad `--source` text).
    public static func usage(_ message: String) -> VideoSourceError { VideoSourceError(message, exitCode: .usage) }

    public var description: String { message }
}
