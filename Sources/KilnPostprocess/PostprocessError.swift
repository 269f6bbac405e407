import KilnCore

/// Model outputs that postprocessing cannot interpret, naming the tensor and what was expected.
public struct PostprocessError: KilnError {
    /// What is wrong.
    public var message: String
    /// Invalid model for output-shape mismatches; usage for bad options; runtime for sink I/O.
    public var exitCode: ExitCode
    /// Creates an error.
    public init(_ message: String, exitCode: ExitCode = .invalidModel) {
        self.message = message
        self.exitCode = exitCode
    }
    public var description: String { message }
}
