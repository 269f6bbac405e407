import KilnAgent
import KilnCore
import KilnRegistry
import KilnRollout

/// `kiln run --follow`: the flags of following a reference.
struct FollowOptions {
    static let help = """
          --follow                    follow the reference: poll it, roll new digests out through
                                      the on-device gate, swap without dropping frames, roll back
          --poll-interval DURATION    time between polls (default 30s), ±--poll-jitter
          --poll-jitter FRACTION      spread of the poll interval (default 0.2 = ±20%)
          --probation DURATION        how long a new engine is watched after the swap (default 10s)
          --state-dir DIR             where rollout.json lives (default $STATE_DIRECTORY,
                                      $XDG_STATE_HOME/kiln or ~/.local/state/kiln)
        """

    var enabled: Bool
    var interval: Double
    var jitter: Double
    var probation: Double
    var stateDirectory: String

    init(_ a: inout Arguments) throws {
        enabled = a.flag("--follow")
        interval = try a.option("--poll-interval", "a duration like 30s") { DurationText.seconds($0).flatMap { $0 > 0 ? $0 : nil } } ?? 30
        jitter = try a.option("--poll-jitter", "a fraction from 0 to 1") { Double($0).flatMap { (0...1).contains($0) ? $0 : nil } } ?? 0.2
        probation = try a.option("--probation", "a duration like 10s") { DurationText.seconds($0) } ?? 10
        stateDirectory = try a.option("--state-dir") ?? KilnDirectories().state
    }

    /// The agent's follow settings; nil without `--follow`.
    var follow: AgentConfiguration.Follow? {
        guard enabled else { return nil }
        return AgentConfiguration.Follow(schedule: PollSchedule(interval: interval, jitter: jitter), probationSeconds: probation,
                                         stateDirectory: stateDirectory)
    }
}
