import Foundation
import KilnCore
import KilnRegistry

extension RolloutState {
    /// Abnormal exits recorded for `digest`.
    public func abnormalExitCount(_ digest: Digest) -> Int { abnormalExits?[digest.description] ?? 0 }

    /// Counts one abnormal exit of a run that served or tried `digest`; returns the new count.
    @discardableResult
    public mutating func countAbnormalExit(_ digest: Digest) -> Int {
        var counts = abnormalExits ?? [:]
        counts[digest.description, default: 0] += 1
        abnormalExits = counts
        return counts[digest.description]!
    }

    /// Forgets the abnormal exits of `digest` (a clean end, a commit).
    public mutating func clearAbnormalExits(_ digest: Digest) {
        abnormalExits?[digest.description] = nil
        if abnormalExits?.isEmpty == true { abnormalExits = nil }
    }

    /// Start-up recovery, Mender-style trial and commit: decides from the persisted state how
    /// the previous run ended, before anything is served. Returns what it decided, for the log.
    ///
    /// - A persisted building, gating, swapping, probation or rolling-back phase means the last
    ///   attempt died: its candidate is refused (`crashed`, "crashed while in probation", …), its
    ///   trial is dropped, and the committed model serves.
    /// - Otherwise a run marker left behind means the last run exited abnormally while serving
    ///   its digest; at `breakerThreshold` such exits the digest is refused (`crashLoop`) and, if
    ///   it was the committed model, the previous one becomes active again.
    public mutating func recoverAtStart(breakerThreshold: Int = 2) -> [String] {
        var decisions: [String] = []
        let marker = running
        running = nil
        if phase.isAttempt, let digest = trial?.digest ?? candidate {
            let exits = countAbnormalExit(digest)
            let reason = "crashed while \(phase.crashDescription) (abnormal exit \(exits) of this digest); the committed model serves"
            trial = nil
            refuse(digest, kind: .crashed, reason: reason)
            decisions.append("refused \(digest): \(reason)")
        } else if let marker {
            let exits = countAbnormalExit(marker.digest)
            decisions.append("the last run (pid \(marker.pid)) exited abnormally while serving \(marker.digest) (\(exits) abnormal exit(s))")
            if exits >= breakerThreshold {
                let reason = "crash loop: \(exits) abnormal exits while serving it"
                if active?.digest == marker.digest {
                    if let previous {
                        active = previous
                        self.previous = nil
                        decisions.append("rolled back to the previous model \(previous.digest)")
                    } else {
                        decisions.append("no previous model to fall back to; \(marker.digest) keeps serving")
                        return decisions
                    }
                }
                refuse(marker.digest, kind: .crashLoop, reason: reason)
                decisions.append("refused \(marker.digest): \(reason)")
            }
        } else if phase.isAttempt {
            record(.idle, digest: nil, detail: "the last run stopped while \(phase.crashDescription); nothing to refuse")
        }
        return decisions
    }
}

extension RolloutPhase {
    /// The phase as "crashed while …" words.
    var crashDescription: String {
        switch self {
        case .building: "building its engine"
        case .gating: "gating it"
        case .swapping: "swapping it in"
        case .probation: "in probation"
        case .rollingBack: "rolling it back"
        case .starting, .idle, .inspecting, .pulling: rawValue
        }
    }
}
