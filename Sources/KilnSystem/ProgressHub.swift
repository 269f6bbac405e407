import Foundation
import Synchronization

/// One change of a step's progress, as observers receive it.
public enum ProgressEvent: Sendable {
    /// A step began.
    case began(ProgressSnapshot)
    /// A running step moved.
    case updated(ProgressSnapshot)
    /// A step ended (`outcome` is set).
    case finished(ProgressSnapshot)

    /// The snapshot the event carries.
    public var snapshot: ProgressSnapshot {
        switch self {
        case .began(let s), .updated(let s), .finished(let s): s
        }
    }
}

/// Kiln's one home for progress: the steps running now and the observers that show them (the
/// terminal renderer, metrics, `/status`, systemd's `STATUS=`).
///
/// Work deep in the stack (a blob download, a build's phase callback) begins a tracker on
/// `ProgressHub.shared`; the process's entry point decides who watches. Observers are called
/// on the updating thread, outside the hub's lock, and must be quick.
public final class ProgressHub: Sendable {
    /// The process-wide hub.
    public static let shared = ProgressHub()

    /// A registration returned by `observe`; pass it to `removeObserver` to stop.
    public struct Observation: Sendable, Hashable {
        let id: Int
    }

    private struct State {
        var nextID = 1
        var active: [Int: ProgressTracker] = [:]
        var observers: [Int: @Sendable (ProgressEvent) -> Void] = [:]
        var ticking = false
    }
    /// Seconds between ticks of the running steps.
    static let tickInterval = 1.0
    private let state = Mutex(State())

    /// Creates a hub (tests use their own; the process uses `shared`).
    public init() {}

    /// Begins tracking a step: `total` units when known, `done` already (a resumed download).
    public func begin(_ step: ProgressStep, subject: String, unit: ProgressUnit, total: Int64? = nil, done: Int64 = 0,
                      backend: String? = nil) -> ProgressTracker {
        let now = MonotonicClock.now
        let (tracker, observers) = state.withLock { s in
            let tracker = ProgressTracker(id: s.nextID, step: step, subject: subject, backend: backend, unit: unit, total: total,
                                          done: done, hub: self, now: now)
            s.nextID += 1
            s.active[tracker.id] = tracker
            return (tracker, Array(s.observers.values))
        }
        let snapshot = tracker.snapshot
        for o in observers { o(.began(snapshot)) }
        startTicking()
        return tracker
    }

    /// Ticks every running step once a second on a dedicated thread, which ends when none runs.
    private func startTicking() {
        let start = state.withLock { s -> Bool in
            guard !s.ticking else { return false }
            s.ticking = true
            return true
        }
        guard start else { return }
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: Self.tickInterval)
                let trackers = state.withLock { s -> [ProgressTracker] in
                    if s.active.isEmpty { s.ticking = false }
                    return Array(s.active.values)
                }
                if trackers.isEmpty { return }
                for t in trackers { t.tick() }
            }
        }
        thread.name = "kiln-progress"
        thread.start()
    }

    /// Calls `observer` for every event from now on.
    public func observe(_ observer: @escaping @Sendable (ProgressEvent) -> Void) -> Observation {
        state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.observers[id] = observer
            return Observation(id: id)
        }
    }

    /// Stops calling an observer.
    public func removeObserver(_ observation: Observation) {
        _ = state.withLock { $0.observers.removeValue(forKey: observation.id) }
    }

    /// The steps running now, oldest first.
    public var active: [ProgressSnapshot] {
        state.withLock { $0.active.values.sorted { $0.id < $1.id } }.map(\.snapshot)
    }

    func updated(_ snapshot: ProgressSnapshot) {
        for o in state.withLock({ Array($0.observers.values) }) { o(.updated(snapshot)) }
    }

    func finished(_ tracker: ProgressTracker, _ snapshot: ProgressSnapshot) {
        let observers = state.withLock { s in
            s.active.removeValue(forKey: tracker.id)
            return Array(s.observers.values)
        }
        for o in observers { o(.finished(snapshot)) }
    }
}
