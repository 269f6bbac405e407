import KilnCore

/// A malformed, unsupported or unreadable ONNX model or TensorProto file.
///
/// The message says what was malformed; `offset` is the byte offset in the input where the
/// problem was found (nil when it is not about a byte position, e.g. a missing external file).
public struct ONNXError: KilnError, Equatable {
    /// What was wrong, naming the field or tensor.
    public var message: String
    /// The byte offset in the input where the problem was found.
    public var offset: Int?
    /// The file the bytes came from, when the reader was given a path.
    public var file: String?
    /// The exit code: `.invalidModel` for malformed or unsupported content, `.usage` for a missing
    /// file, `.runtimeFailure` for other I/O failures.
    public var exitCode: ExitCode

    /// Creates an error about malformed content at `offset`.
    public init(_ message: String, offset: Int?, file: String? = nil, exitCode: ExitCode = .invalidModel) {
        self.message = message
        self.offset = offset
        self.file = file
        self.exitCode = exitCode
    }

    public var description: String {
        var text = exitCode == .invalidModel ? "invalid ONNX" : "ONNX"
        text += file.map { " file \($0)" } ?? " input"
        if let offset { text += " at byte \(offset)" }
        return text + ": " + message
    }
}
