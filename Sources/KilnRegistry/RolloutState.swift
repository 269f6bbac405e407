import Foundation
import KilnCore

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
        /// Creates a deployment record.
        public init(digest: Digest, modelDigest: Digest?, path: String?, since: String) {
            self.digest = digest
            self.modelDigest = modelDigest
            self.path = path
            self.since = since
        }
    }

    /// A digest the device refused, and why; not retried until the tag moves to another digest.
    public struct Rejection: Sendable, Codable, Equatable {
        /// The refused digest.
        public var digest: Digest
        /// The reason (gate failure, build failure, rollback).
        public var reason: String
        /// When (RFC 3339).
        public var at: String
        /// Creates a rejection record.
        public init(digest: Digest, reason: String, at: String) {
            self.digest = digest
            self.reason = reason
            self.at = at
        }
    }

    /// One logged transition.
    public struct Transition: Sendable, Codable, Equatable {
        /// When (RFC 3339).
        public var at: String
        /// The phase entered.
        public var phase: String
        /// The digest concerned, if any.
        public var digest: Digest?
        /// Detail.
        public var detail: String
    }

    /// The followed reference.
    public var reference: String?
    /// This device's id.
    public var deviceID: String?
    /// The current phase: `starting`, `idle`, `pulling`, `building`, `gating`, `swapping`,
    /// `probation`, `rolling-back`.
    public var phase: String
    /// The model serving now.
    public var active: Deployment?
    /// The model served before it (the rollback target).
    public var previous: Deployment?
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
        phase = "starting"
        rejected = []
        transitions = []
        consecutiveFailures = 0
    }

    /// True if `digest` was refused and the tag has not moved since.
    public func isRejected(_ digest: Digest) -> Bool { rejected.contains { $0.digest == digest } }

    /// Records a transition (keeps the last 50).
    public mutating func record(_ phase: String, digest: Digest?, detail: String, at date: Date = Date()) {
        self.phase = phase
        transitions.append(Transition(at: Self.timestamp(date), phase: phase, digest: digest, detail: detail))
        if transitions.count > 50 { transitions.removeFirst(transitions.count - 50) }
    }

    /// RFC 3339 UTC with fractional seconds.
    public static func timestamp(_ date: Date = Date()) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }
}

/// Loads and saves `RolloutState` atomically in the state directory.
public struct RolloutStateStore: Sendable {
    /// The state file's path.
    public let path: String

    /// A store in `directory` (default: `StateDirectory.path()`), file `rollout.json`.
    public init(directory: String = StateDirectory.path()) { path = directory + "/rollout.json" }

    /// The saved state, or an empty one if none was saved; a corrupt file is an error naming it.
    public func load() throws -> RolloutState {
        guard let data = FileManager.default.contents(atPath: path) else { return RolloutState() }
        do { return try JSONDecoder().decode(RolloutState.self, from: data) } catch {
            throw RegistryError(.io, "rollout state \(path) is corrupt (\(error)); move it aside to start fresh")
        }
    }

    /// Saves atomically (temp file, fsync, rename).
    public func save(_ state: RolloutState) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try AtomicFile.write(Array(try encoder.encode(state)), to: path)
    }
}

/// Where Kiln keeps state that must survive restarts.
public enum StateDirectory {
    /// `$STATE_DIRECTORY` (systemd `StateDirectory=`), else `$XDG_STATE_HOME/kiln`, else
    /// `~/.local/state/kiln`.
    public static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let s = environment["STATE_DIRECTORY"], !s.isEmpty { return String(s.split(separator: ":")[0]) }
        if let x = environment["XDG_STATE_HOME"], !x.isEmpty { return x + "/kiln" }
        return (environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path) + "/.local/state/kiln"
    }
}
