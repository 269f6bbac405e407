/// The long steps of Kiln's work that report progress: what a person at a terminal, `/status`
/// and `kiln_rollout_step{step=…}` name.
public enum ProgressStep: String, Sendable, Codable, CaseIterable {
    /// Downloading a blob from a registry (bytes).
    case pull
    /// Uploading a blob in `kiln publish` (bytes).
    case publish
    /// Building an engine (phases, passes, or elapsed time).
    case build
    /// The gate: golden cases and warm-up runs of a candidate engine.
    case gate
    /// A rollout's probation: the time a new model must serve before it is committed.
    case probation

    /// The verb phrase a progress line starts with.
    public var verb: String {
        switch self {
        case .pull: "pulling"
        case .publish: "publishing"
        case .build: "building engine"
        case .gate: "gating"
        case .probation: "on probation"
        }
    }
}

/// What a step's `done` and `total` count.
public enum ProgressUnit: String, Sendable, Codable {
    /// Bytes transferred or held.
    case bytes
    /// Numbered phases or passes of a build (`done` of `total` finished).
    case phases
    /// Items such as golden cases or warm-up runs.
    case items
    /// Seconds of a fixed-length wait (probation): `done` elapsed of `total`.
    case seconds
}

/// How a step ended.
public enum ProgressOutcome: String, Sendable, Codable {
    /// The step completed.
    case succeeded
    /// The step failed or was cancelled.
    case failed
}
