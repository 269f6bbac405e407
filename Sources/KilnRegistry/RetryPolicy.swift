/// Exponential backoff with full jitter for retrying a failed request.
///
/// Attempt `n` (from 0) waits a uniformly random time in `0…min(cap, base·2ⁿ)`: the spread keeps
/// a fleet that failed together from retrying together.
public struct RetryPolicy: Sendable, Equatable {
    /// Retries after the first try (so `attempts + 1` tries in all).
    public var attempts: Int
    /// The first backoff ceiling, in seconds.
    public var base: Double
    /// The largest backoff ceiling, in seconds.
    public var cap: Double

    /// Creates a policy; the default makes 5 retries over at most ~8 s.
    public init(attempts: Int = 5, base: Double = 0.25, cap: Double = 4) {
        self.attempts = attempts
        self.base = base
        self.cap = cap
    }

    /// No retries (tests that want to see the first failure).
    public static let none = RetryPolicy(attempts: 0, base: 0, cap: 0)

    /// The delay before retry `attempt` (0-based), with `random` in 0…1.
    public func delay(attempt: Int, random: Double = Double.random(in: 0...1)) -> Double {
        let ceiling = min(cap, base * Double(1 << min(attempt, 30)))
        return ceiling * random
    }
}

/// When a device polls its tag next: an interval with jitter while things work, exponential
/// backoff with jitter while the registry fails.
///
/// With N devices polling every `interval` seconds, the registry sees N/interval HEADs a second
/// on average; `jitter` spreads them so that devices started together (a power cut, a fleet
/// reboot) drift apart instead of staying in lock-step. After the n-th consecutive failure a
/// device waits a random time in ½…1 × min(`backoffCap`, `backoffBase`·2ⁿ⁻¹): the doubling
/// takes the load off a registry that is down (with the default cap of 2 × interval a failing
/// fleet polls *less* often than a healthy one), and the random half-window spreads the first
/// retries after the registry returns over tens of seconds instead of one spike.
public struct PollSchedule: Sendable, Equatable {
    /// Seconds between polls while the registry answers.
    public var interval: Double
    /// Fraction of `interval` by which each delay varies, ±; 0.2 means 0.8–1.2 × interval.
    public var jitter: Double
    /// The first backoff ceiling after a failed poll, in seconds.
    public var backoffBase: Double
    /// The largest backoff ceiling, in seconds.
    public var backoffCap: Double

    /// Creates a schedule; by default backoff starts at min(5 s, interval) and is capped at
    /// max(2 × interval, 60 s).
    public init(interval: Double, jitter: Double = 0.2, backoffBase: Double? = nil, backoffCap: Double? = nil) {
        self.interval = interval
        self.jitter = jitter
        self.backoffBase = backoffBase ?? min(5, interval)
        self.backoffCap = backoffCap ?? max(2 * interval, 60)
    }

    /// The delay after a poll; `failures` counts consecutive failed polls (0 after a success),
    /// `random` is uniform in 0…1.
    public func delay(failures: Int, random: Double = Double.random(in: 0...1)) -> Double {
        if failures == 0 {
            return interval * (1 - jitter + 2 * jitter * random)
        }
        let ceiling = min(backoffCap, backoffBase * Double(1 << min(failures - 1, 30)))
        return ceiling * (0.5 + 0.5 * random)
    }
}
