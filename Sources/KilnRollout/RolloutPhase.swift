/// The step a device's rollout is in, as persisted in `rollout.json` and shown by `kiln status`.
///
/// A rollout walks `inspecting → pulling → building → gating → swapping → probation → idle`
/// (committed), or leaves for `idle` with a refusal at any step; `rolling-back` swaps the
/// previous engine back in after a failed probation.
public enum RolloutPhase: String, Sendable, Codable, CaseIterable {
    /// The agent has not polled yet.
    case starting
    /// Nothing in progress: serving the active model, waiting for the next poll.
    case idle
    /// Reading the new digest's annotations (manifest only).
    case inspecting
    /// Fetching the artifact.
    case pulling
    /// Preparing the candidate's engine while the active one serves.
    case building
    /// Running the gate: golden data, then the warm latency check.
    case gating
    /// Handing the candidate to the frame loop between two frames.
    case swapping
    /// The candidate serves on trial; it becomes active only when probation passes.
    case probation
    /// Probation failed: the previous engine is being swapped back in.
    case rollingBack = "rolling-back"

    /// True for the phases in which a candidate is being built, gated or tried: finding one of
    /// these persisted at start means the previous run died during that attempt.
    public var isAttempt: Bool {
        switch self {
        case .building, .gating, .swapping, .probation, .rollingBack: true
        case .starting, .idle, .inspecting, .pulling: false
        }
    }

    /// The `kiln_rollout_state` state this phase reports.
    public var metricState: RolloutMetricState {
        switch self {
        case .starting, .idle, .inspecting: .idle
        case .pulling: .downloading
        case .building: .building
        case .gating: .verifying
        case .swapping, .probation: .switching
        case .rollingBack: .rolledBack
        }
    }
}

/// The states the `kiln_rollout_state` metric reports (exactly one is 1 at a time).
public enum RolloutMetricState: String, Sendable, CaseIterable {
    /// Serving, nothing in progress.
    case idle
    /// Pulling a new artifact.
    case downloading
    /// Building its engine.
    case building
    /// Gating it (golden data, latency).
    case verifying
    /// Swapping it in and watching it on probation.
    case switching
    /// The last rollout was rolled back after probation.
    case rolledBack = "rolled_back"
    /// The last rollout was refused.
    case failed
}

/// Why a digest was refused; model faults only (transport faults are retried, never refused).
public enum RefusalKind: String, Sendable, Codable, CaseIterable {
    /// The artifact is not a valid Kiln model (wrong digest or size, missing layers).
    case invalidArtifact = "invalid-artifact"
    /// Its engine could not be built.
    case buildFailed = "build-failed"
    /// The gate refused it: golden data out of tolerance, or warm latency over the SLO.
    case gateFailed = "gate-failed"
    /// Probation failed and the previous engine was swapped back in.
    case rolledBack = "rolled-back"
    /// The agent died while the digest was being built, gated or tried.
    case crashed
    /// The agent exited abnormally too often while serving the digest.
    case crashLoop = "crash-loop"
}
