import KilnCore

/// A run that did nothing useful: frames came in, and not one of them made it through
/// preprocessing, inference and postprocessing. `kiln run` and `kiln demo` exit 1 with it.
public struct EveryFrameFailedError: KilnError {
    /// Frames that failed.
    public var failedFrames: Int
    /// The model being served.
    public var model: String
    /// The first failure, as the loop logged it.
    public var firstError: String

    public var description: String {
        "every frame failed (\(failedFrames) of \(failedFrames)) on \(model); the first error: \(firstError). "
            + "Check that the model fits the source and --postprocess (`kiln inspect MODEL`)"
    }
    public var exitCode: ExitCode { .runtimeFailure }
}
