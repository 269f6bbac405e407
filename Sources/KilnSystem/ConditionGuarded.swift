import Foundation

/// State shared by threads that wait for it to change: one lock, one condition variable and the
/// state they guard (a blocking queue's slots, a live source's newest frame).
///
/// Every access runs with the lock held, inside `withLock`. A thread that needs the state to reach
/// some condition names it as a predicate (`withLock(when:)`, `wait(until:)`) and sleeps, the lock
/// released, until another thread changes the state and calls `signal()` or `broadcast()`, or until
/// the optional deadline passes. The predicate is checked again after every wake-up, so spurious
/// wake-ups and wake-ups meant for other waiters are harmless.
///
/// Waiting never happens inside a `body`: the state is only lent to code that runs with the lock
/// held from start to end.
// unchecked: `state` is read and written only with `condition` locked, and it holds only Sendable values.
public final class ConditionGuarded<State: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var state: State

    /// Guards `initial`.
    public init(_ initial: State) {
        state = initial
    }

    /// Runs `body` on the state with the lock held.
    public func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        condition.lock()
        defer { condition.unlock() }
        return try body(&state)
    }

    /// Waits until `ready` holds for the state or `deadline` passes (no deadline: waits as long as
    /// it takes), then runs `body` on the state, all with the lock held: nothing can change the
    /// state between the wait ending and `body`. After a deadline, `body` sees the state as it is,
    /// whether or not `ready` holds.
    public func withLock<Result>(
        when ready: (State) -> Bool, deadline: Date? = nil, _ body: (inout State) throws -> Result
    ) rethrows -> Result {
        condition.lock()
        defer { condition.unlock() }
        waitLocked(until: ready, deadline: deadline)
        return try body(&state)
    }

    /// Waits until `ready` holds for the state or `deadline` passes; returns whether it holds.
    @discardableResult
    public func wait(until ready: (State) -> Bool, deadline: Date? = nil) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return waitLocked(until: ready, deadline: deadline)
    }

    /// Wakes one waiting thread to re-check its predicate.
    public func signal() {
        condition.signal()
    }

    /// Wakes every waiting thread to re-check its predicate.
    public func broadcast() {
        condition.broadcast()
    }

    @discardableResult
    private func waitLocked(until ready: (State) -> Bool, deadline: Date?) -> Bool {
        while !ready(state) {
            if let deadline {
                if !condition.wait(until: deadline) { return ready(state) }
            } else {
                condition.wait()
            }
        }
        return true
    }
}
