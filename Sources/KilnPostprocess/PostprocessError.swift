import KilnCore

/// Model outputs that postprocessing cannot interpret, naming the tensor and what was expected;
/// also bad options (usage) and sink I/O (runtime failure).
public typealias PostprocessError = DomainError<PostprocessFailure>

/// The domain of `PostprocessError`: an invalid model unless told otherwise.
public enum PostprocessFailure: ErrorDomain {
    public static var defaultExitCode: ExitCode { .invalidModel }
}
