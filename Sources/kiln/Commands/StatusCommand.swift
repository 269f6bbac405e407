import Foundation
import KilnCore
import KilnRegistry
import KilnRollout

/// `kiln status`: the rollout state of this device (active, previous, rejected digests and
/// the recent transitions), as written by `kiln run --follow`.
struct StatusCommand: Command {
    static let name = "status"
    static let summary = "Show the rollout state: active, previous and rejected models"
    static let help = """
        Usage: kiln status [--json] [--state-dir DIR]

        Reads rollout.json in the state directory ($STATE_DIRECTORY under systemd, else
        $XDG_STATE_HOME/kiln, else ~/.local/state/kiln) that `kiln run --follow` keeps.

          --json            print the whole snapshot as JSON
          --state-dir DIR   read another state directory
        """

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        let json = arguments.flag("--json")
        let dir = try arguments.option("--state-dir") ?? KilnDirectories().state
        try arguments.finish()
        let store = RolloutStateStore(directory: dir)
        guard FileManager.default.fileExists(atPath: store.path) else {
            throw RuntimeError("no rollout state at \(store.path); start `kiln run --follow REF` first (or pass --state-dir)")
        }
        let state = try store.load()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(state), as: UTF8.self))
            return .ok
        }
        print("following: \(state.reference ?? "-")   device: \(state.deviceID ?? "-")   phase: \(state.phase)")
        print("active:    \(state.active.map { "\($0.digest) since \($0.since)" } ?? "-")")
        print("previous:  \(state.previous.map { "\($0.digest)" } ?? "-")")
        for r in state.rejected { print("rejected:  \(r.digest) at \(r.at): \(r.reason)") }
        if let d = state.notInCohort { print("waiting:   \(d) (this device is outside the rollout percentage)") }
        if let e = state.lastError { print("last error: \(e) (\(state.consecutiveFailures) failed polls)") }
        print("last poll: \(state.lastPoll ?? "-")")
        for t in state.transitions.suffix(10) {
            print("  \(t.at) \(t.phase) \(t.digest.map { $0.short } ?? "") \(t.detail)")
        }
        return .ok
    }
}
