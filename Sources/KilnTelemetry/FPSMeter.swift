import KilnCore
import Synchronization

/// Frames per second over a sliding window of recent frame times, thread-safe.
///
/// `tick()` per processed frame; `fps` counts the ticks in the last `window` seconds divided by
/// the time they span, so it falls to 0 when frames stop arriving.
public final class FPSMeter: Sendable {
    private struct State {
        var times: [Double] = []
        var head = 0
    }
    /// The window in seconds.
    public let window: Double
    private let state = Mutex(State())

    /// Creates a meter over `window` seconds (default 2).
    public init(window: Double = 2) { self.window = window }

    /// Records one frame at `time` (monotonic seconds; now by default).
    public func tick(at time: Double = MonotonicClock.now) {
        state.withLock { s in
            s.times.append(time)
            // Drop expired entries in bulk once they pile up.
            let cutoff = time - window
            while s.head < s.times.count && s.times[s.head] < cutoff { s.head += 1 }
            if s.head > 1024 && s.head * 2 > s.times.count {
                s.times.removeFirst(s.head)
                s.head = 0
            }
        }
    }

    /// Frames per second over the window ending at `time` (now by default).
    public func fps(at time: Double = MonotonicClock.now) -> Double {
        state.withLock { s in
            let cutoff = time - window
            let recent = s.times[s.head...].filter { $0 >= cutoff }
            guard let first = recent.first, recent.count > 1 else { return 0 }
            // Rate over the span from the oldest frame in the window to now: steady streams read
            // their true rate, and a stream that stopped decays to 0 as its frames expire.
            let span = time - first
            return span > 0 ? Double(recent.count - 1) / span : 0
        }
    }
}
