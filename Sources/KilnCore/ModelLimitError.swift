/// A model (or a video source) that implies sizes this device cannot afford, or sizes that make no
/// sense (zero or negative dimensions, zero kernels, windows larger than their padded input).
///
/// Raised at inspect and build time, before anything is allocated; the CLI exits 3 with it.
public struct ModelLimitError: KilnError, Equatable {
    /// The model or source and the part of it at fault (`m.onnx: node r (Range)`, `input x`).
    public var subject: String
    /// What is wrong, with the figures (`would hold 2^62 elements, the budget allows 268435456`).
    public var problem: String
    /// What to do about it.
    public var fix: String

    /// Creates the error from its three parts.
    public init(_ subject: String, _ problem: String, fix: String) {
        self.subject = subject
        self.problem = problem
        self.fix = fix
    }

    public var description: String { "\(subject): \(problem); \(fix)" }
    public var exitCode: ExitCode { .invalidModel }
}
