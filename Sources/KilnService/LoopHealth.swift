import KilnCore
import Synchronization

/// Whether the frame loop is making progress: the loop calls `beat()` per frame (or per idle
/// poll when it is legitimately waiting), and the watchdog and `/healthz` ask `isHealthy`.
public final class LoopHealth: Sendable {
    /// Seconds without a beat after which the loop counts as stuck.
    public let maxSilence: Double
    private let last = Mutex<Double?>(nil)
    private let failure = Mutex<String?>(nil)

    /// Creates a monitor that declares the loop stuck after `maxSilence` seconds without a beat.
    public init(maxSilence: Double = 5) { self.maxSilence = maxSilence }

    /// Records progress now.
    public func beat(at time: Double = MonotonicClock.now) { last.withLock { $0 = time } }

    /// Marks the loop failed for good (a stuck or failed loop is replaced, not revived), with the reason for `/status`.
    public func fail(_ reason: String) { failure.withLock { $0 = reason } }

    /// The failure reason, if any.
    public var failureReason: String? { failure.withLock { $0 } }

    /// True when the loop beat within `maxSilence` and has not failed.
    public func isHealthy(at time: Double = MonotonicClock.now) -> Bool {
        guard failureReason == nil, let t = last.withLock({ $0 }) else { return false }
        return time - t <= maxSilence
    }
}
