/// Kiln's one frames-per-second rule: the frames that finished in the last `window` seconds,
/// divided by the window (or by the time since counting started, while that is shorter).
///
/// A steady stream reads its true rate and a stream that stopped falls to 0 once its frames
/// leave the window. A value type: its owner guards it (a `Mutex`, or one thread).
public struct FrameRateWindow: Sendable {
    /// The window in seconds.
    public let window: Double
    /// When counting started (monotonic seconds).
    public let started: Double
    private var times: [Double] = []
    private var head = 0

    /// Starts counting at `started` (monotonic seconds) over `window` seconds.
    public init(window: Double = 2, started: Double = MonotonicClock.now) {
        self.window = window
        self.started = started
    }

    /// Records one frame finished at `time` (monotonic seconds, non-decreasing).
    public mutating func record(at time: Double = MonotonicClock.now) {
        times.append(time)
        let cutoff = time - window
        while head < times.count && times[head] < cutoff { head += 1 }
        // Drop expired entries in bulk once they are most of the array.
        if head > 64 && head * 2 > times.count {
            times.removeFirst(head)
            head = 0
        }
    }

    /// Frames per second over the window ending at `time`.
    public func rate(at time: Double = MonotonicClock.now) -> Double {
        let cutoff = time - window
        let recent = times[head...].reduce(0) { $0 + ($1 >= cutoff && $1 <= time ? 1 : 0) }
        let span = min(window, time - started)
        return span > 0 ? Double(recent) / span : 0
    }
}
