import KilnCore

/// An error of the telemetry server or pusher, naming the address or URL: usage for bad
/// addresses, a run-time failure otherwise.
public typealias TelemetryError = DomainError<TelemetryFailure>

/// The domain of `TelemetryError`: a run-time failure unless told otherwise.
public enum TelemetryFailure: ErrorDomain {
    public static var defaultExitCode: ExitCode { .runtimeFailure }
}
