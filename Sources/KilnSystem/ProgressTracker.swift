import Synchronization

/// The progress of one running step, fed by whoever does the work (a transfer callback, a
/// build's phase events, a gate's case loop) and published through its `ProgressHub`.
///
/// Updates are cheap (a short lock and the hub's observers); observers rate-limit themselves.
/// `finish` is idempotent and every tracker must be finished (a `defer` at the step's start).
public final class ProgressTracker: Sendable {
    /// The tracker's identity within its hub.
    public let id: Int
    /// The kind of step.
    public let step: ProgressStep
    private let hub: ProgressHub
    private let started: Double
    private struct State {
        var snapshot: ProgressSnapshot
        /// (monotonic time, done) samples of the last few seconds, for the rate.
        var samples: [(Double, Int64)]
    }
    private let state: Mutex<State>
    /// Seconds of samples the rate is computed over.
    static let rateWindow = 5.0

    init(id: Int, step: ProgressStep, subject: String, backend: String?, unit: ProgressUnit, total: Int64?, done: Int64,
         hub: ProgressHub, now: Double) {
        self.id = id
        self.step = step
        self.hub = hub
        started = now
        state = Mutex(State(
            snapshot: ProgressSnapshot(id: id, step: step, subject: Self.printable(subject), backend: backend, unit: unit, done: done, total: total, elapsed: 0),
            samples: [(now, done)]))
    }

    /// `text` without control characters (subjects come from outside: reference names).
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F && !(0x80..<0xA0).contains($0.value) }))
    }

    /// The progress now.
    public var snapshot: ProgressSnapshot {
        let now = MonotonicClock.now
        return state.withLock { s in
            var snapshot = s.snapshot
            if snapshot.outcome == nil { snapshot.elapsed = now - started }
            return snapshot
        }
    }

    /// Sets how many units are done (and, when given, the total and the phase). A `done` below
    /// the previous one (a download that had to start over), or `restartRate` (units found
    /// rather than transferred: a partial file resumed), restarts the rate.
    public func update(done: Int64, total: Int64? = nil, phase: String? = nil, restartRate: Bool = false) {
        mutate { s in
            if restartRate { s.samples.removeAll() }
            s.snapshot.done = done
            if let total { s.snapshot.total = total }
            if let phase { s.snapshot.phase = phase }
        }
    }

    /// Adds `count` units to `done`.
    public func advance(by count: Int64 = 1) {
        mutate { $0.snapshot.done += count }
    }

    /// Enters phase `name`, the `index`-th (from 1) of `count` when known: `done` becomes the
    /// phases finished before it.
    public func enterPhase(_ name: String, index: Int? = nil, count: Int? = nil) {
        mutate { s in
            s.snapshot.phase = name
            if let index { s.snapshot.done = Int64(max(0, index - 1)) }
            if let count { s.snapshot.total = Int64(count) }
        }
    }

    /// Publishes the progress again unchanged, so elapsed time, rate and ETA move on a step
    /// that reports rarely (the hub does this once a second).
    public func tick() {
        mutate { _ in }
    }

    /// Ends the step; later calls and updates are ignored.
    public func finish(_ outcome: ProgressOutcome = .succeeded) {
        let now = MonotonicClock.now
        let ended: ProgressSnapshot? = state.withLock { s in
            guard s.snapshot.outcome == nil else { return nil }
            s.snapshot.outcome = outcome
            s.snapshot.elapsed = now - started
            if outcome == .succeeded, s.snapshot.unit != .bytes, let total = s.snapshot.total { s.snapshot.done = total }
            return s.snapshot
        }
        if let ended { hub.finished(self, ended) }
    }

    private func mutate(_ change: (inout State) -> Void) {
        let now = MonotonicClock.now
        let updated: ProgressSnapshot? = state.withLock { s in
            guard s.snapshot.outcome == nil else { return nil }
            let before = s.snapshot.done
            change(&s)
            let done = s.snapshot.done
            if done < before { s.samples.removeAll() }
            if let last = s.samples.last, now - last.0 < 0.05 {
                s.samples[s.samples.count - 1] = (last.0, done)
            } else {
                s.samples.append((now, done))
            }
            while s.samples.count > 2, now - s.samples[1].0 >= Self.rateWindow { s.samples.removeFirst() }
            if let first = s.samples.first, now - first.0 >= 0.5 {
                s.snapshot.rate = Double(done - first.1) / (now - first.0)
            } else if s.samples.count < 2 {
                s.snapshot.rate = nil
            }
            s.snapshot.elapsed = now - started
            return s.snapshot
        }
        if let updated { hub.updated(updated) }
    }
}
