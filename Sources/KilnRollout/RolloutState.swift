import Foundation
import KilnCore
import KilnRegistry

/// What a device's rollouts have done, persisted in the state directory as `rollout.json` so
/// the active, previous and rejected digests survive restarts; also the status snapshot
/// `kiln status` and the agent's status endpoint show.
public struct RolloutState: Sendable, Codable, Equatable {
    /// One deployed model.
    public struct Deployment: Sendable, Codable, Equatable {
        /// The digest the followed reference resolved to.
        public var digest: Digest
        /// The ONNX file's digest.
        public var modelDigest: Digest?
        /// The local ONNX file.
        public var path: String?
        /// When it became active (RFC 3339).
        public var since: String
    }

    /// A digest the device refused, and why; not retried until the tag moves to another digest.
    public struct Rejection: Sendable, Codable, Equatable {
        /// The refused digest.
        public var digest: Digest
        /// The reason (gate failure, build failure, rollback).
        public var reason: String
        /// When (RFC 3339).
        public var at: String
        /// Which step refused it (nil in state files written before kinds were recorded).
        public var kind: RefusalKind?
    }

    /// The run that serves from this state.
    public struct RunMarker: Sendable, Codable, Equatable {
        /// The digest the run serves (its committed model).
        public var digest: Digest
        /// The run's process id.
        public var pid: Int32
        /// When it started serving (RFC 3339).
        public var since: String
    }

    /// One logged transition.
    public struct Transition: Sendable, Codable, Equatable {
        /// When (RFC 3339).
        public var at: String
        /// The phase entered.
        public var phase: RolloutPhase
        /// The digest concerned, if any.
        public var digest: Digest?
        /// Detail.
        public var detail: String
        /// Set when this transition records a refusal of `digest`.
        public var refusal: RefusalKind?
    }

    /// The followed reference.
    public var reference: String?
    /// This device's id.
    public var deviceID: String?
    /// The current phase.
    public var phase: RolloutPhase
    /// The committed model: the one a restart serves. A candidate becomes active only when
    /// its probation passes.
    public var active: Deployment?
    /// The model committed before it (the rollback target).
    public var previous: Deployment?
    /// The candidate serving on trial (swapped in, probation not yet passed); never served
    /// after a restart.
    public var trial: Deployment?
    /// Set while an agent serves from this state, cleared when it ends cleanly: found set at
    /// start, it means the last run exited abnormally while serving that digest.
    public var running: RunMarker?
    /// Abnormal exits per digest (`sha256:…` → count) across restarts, for the crash-loop
    /// breaker; a digest's count is cleared when a run serving it ends cleanly or it is committed.
    public var abnormalExits: [String: Int]?
    /// Refused digests.
    public var rejected: [Rejection]
    /// A digest this device sits out because its cohort bucket is above the rollout percentage.
    public var notInCohort: Digest?
    /// The candidate being processed, if any.
    public var candidate: Digest?
    /// A digest pulled and waiting for the next start to be built and gated (boards whose
    /// profile forbids building while serving).
    public var pendingBuild: Digest?
    /// The last poll (RFC 3339) and what it saw.
    public var lastPoll: String?
    /// The digest the reference pointed to at the last successful poll.
    public var lastSeen: Digest?
    /// The last error, if the last poll failed.
    public var lastError: String?
    /// Consecutive failed polls.
    public var consecutiveFailures: Int
    /// The most recent transitions, newest last (at most 50).
    public var transitions: [Transition]

    /// An empty state.
    public init() {
        phase = .starting
        rejected = []
        transitions = []
        consecutiveFailures = 0
    }

    /// True if `digest` was refused and the tag has not moved since.
    public func isRejected(_ digest: Digest) -> Bool { rejected.contains { $0.digest == digest } }

    /// Records a transition (keeps the last 50).
    public mutating func record(_ phase: RolloutPhase, digest: Digest?, detail: String, refusal: RefusalKind? = nil,
                                at date: Date = Date()) {
        self.phase = phase
        transitions.append(Transition(at: Self.timestamp(date), phase: phase, digest: digest, detail: detail, refusal: refusal))
        if transitions.count > 50 { transitions.removeFirst(transitions.count - 50) }
    }

    /// Records that `digest` is refused for `reason` (replacing an earlier refusal of it), ends
    /// the attempt and enters `idle` with the refusal as the transition's detail.
    public mutating func refuse(_ digest: Digest, kind: RefusalKind, reason: String) {
        rejected.removeAll { $0.digest == digest }
        rejected.append(.init(digest: digest, reason: reason, at: Self.timestamp(), kind: kind))
        if candidate == digest { candidate = nil }
        if pendingBuild == digest { pendingBuild = nil }
        record(.idle, digest: digest, detail: "refused: \(reason)", refusal: kind)
    }

    /// The `kiln_rollout_state` metric's state: what the phase is, or after a refusal (until
    /// the next step) `failed` or `rolled_back`.
    public var metricState: RolloutMetricState {
        if phase == .idle, let kind = transitions.last?.refusal {
            return kind == .rolledBack ? .rolledBack : .failed
        }
        return phase.metricState
    }

    /// RFC 3339 UTC with fractional seconds.
    public static func timestamp(_ date: Date = Date()) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }
}

// In extensions, so the records keep their synthesized memberwise inits (the module and its tests
// build records field by field).
extension RolloutState.Deployment {
    /// `model`, deployed from now on as `digest` (what the followed reference resolved to).
    public init(_ model: PulledModel, as digest: Digest) {
        self.init(digest: digest, modelDigest: model.modelDigest, path: model.path, since: RolloutState.timestamp())
    }
}

extension RolloutState.RunMarker {
    /// Process `pid` (this one by default) serving `digest` from now on.
    public init(serving digest: Digest, pid: Int32 = getpid()) {
        self.init(digest: digest, pid: pid, since: RolloutState.timestamp())
    }
}
