/// An error that is a message naming the input and the fix, and the exit code it ends a command
/// with: the shape of most modules' errors, told apart by their `Domain`, so callers still catch
/// `PostprocessError` and `TelemetryError` separately.
///
/// A module declares an `ErrorDomain` (its default exit code) and names the error with a type
/// alias, e.g. `typealias TelemetryError = DomainError<TelemetryFailure>`.
public struct DomainError<Domain: ErrorDomain>: KilnError {
    /// What failed, naming the input and the fix.
    public var message: String
    /// The exit code a command ends with.
    public var exitCode: ExitCode

    /// Creates an error; the exit code is the domain's unless given.
    public init(_ message: String, exitCode: ExitCode = Domain.defaultExitCode) {
        self.message = message
        self.exitCode = exitCode
    }

    public var description: String { message }
}

/// The module a `DomainError` comes from, with the exit code its errors have unless told otherwise.
public protocol ErrorDomain: Sendable {
    /// The exit code of an error created without one.
    static var defaultExitCode: ExitCode { get }
}
