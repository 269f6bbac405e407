import KilnCore

/// A failure while resolving, pulling, publishing or verifying a model artifact.
///
/// Every case names the input (reference, registry host, digest, file) and, where there is
/// one, the fix. Credentials never appear in a message.
public typealias RegistryError = KindedError<RegistryErrorKind>

/// What kind of registry failure this is; tests and callers branch on it (`RegistryError.Kind`).
public enum RegistryErrorKind: String, ErrorKind {
    /// The reference text cannot be parsed.
    case invalidReference
    /// The registry wants credentials and none were found for it.
    case authenticationRequired
    /// The registry (or its token service) rejected the credentials.
    case authenticationFailed
    /// The credentials are valid but lack permission (403).
    case accessDenied
    /// The manifest, tag or blob does not exist.
    case notFound
    /// Content did not hash to its digest; it was deleted and not used.
    case digestMismatch
    /// Content is larger or smaller than its descriptor says.
    case sizeMismatch
    /// The artifact is not a model Kiln understands.
    case invalidArtifact
    /// The network or server failed after all retries.
    case transport
    /// The registry answered with an unexpected status.
    case protocolError
    /// A local file could not be read or written.
    case io
    /// The filesystem the store is on is full.
    case diskFull

    /// Bad references are usage errors; unusable content is an invalid model; the rest run-time failures.
    public var exitCode: ExitCode {
        switch self {
        case .invalidReference: .usage
        case .digestMismatch, .sizeMismatch, .invalidArtifact: .invalidModel
        default: .runtimeFailure
        }
    }
}

/// Whose fault a registry failure is; a rollout acts on it (`RegistryError.Fault`).
public enum RegistryFault: String, Sendable, Equatable {
    /// The artifact itself is unusable: a rollout refuses the digest until the tag moves.
    case model
    /// The network or the registry failed, corruption in transit included: retried with
    /// backoff, never a reason to refuse a digest (its identity *is* its content).
    case transport
    /// This device failed (disk full, an unwritable store): reported and retried later.
    case local
}

extension RegistryError {
    /// Whose fault a failure is.
    public typealias Fault = RegistryFault

    /// The fault class of this failure.
    public var fault: Fault {
        switch kind {
        case .invalidArtifact: .model
        case .io, .diskFull: .local
        default: .transport
        }
    }
}
