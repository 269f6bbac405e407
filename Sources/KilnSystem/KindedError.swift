/// A failure of one kind among a module's kinds, with a message naming the input and the fix:
/// the one shape of the errors callers branch on (`RegistryError`, `TensorRTError`).
///
/// A module declares its kinds as an `ErrorKind` enum (each kind knows its exit code) and names
/// the error with a type alias, e.g. `typealias RegistryError = KindedError<RegistryErrorKind>`;
/// `RegistryError.Kind` is then the module's enum.
public struct KindedError<FailureKind: ErrorKind>: KilnError, Equatable {
    /// The module's kinds of failure.
    public typealias Kind = FailureKind

    /// The kind of failure; tests and callers branch on it.
    public var kind: Kind
    /// The message naming the failing input and the fix.
    public var message: String

    /// Creates an error of `kind` with a message naming the input.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// The kind's exit code.
    public var exitCode: ExitCode { kind.exitCode }
}

/// The kinds of failure of one module, each mapped to the exit code a command ends with.
public protocol ErrorKind: Sendable, Equatable {
    /// The exit code of a failure of this kind.
    var exitCode: ExitCode { get }
}
