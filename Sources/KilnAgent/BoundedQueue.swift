import Foundation

/// A blocking FIFO of fixed capacity between two pipeline threads.
///
/// `push` blocks while full (file sources: never drop); `pushDroppingOldest` never blocks and
/// returns the element it evicted (live sources: keep the latest). `pop` blocks until an element
/// arrives or the queue is closed and empty.
// unchecked: every mutable field is read and written only with `condition` locked.
final class BoundedQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    /// A ring of `capacity` slots; a slot is emptied when its element leaves, so the queue never
    /// keeps a popped frame (and its pixel buffer) alive.
    private var slots: [Element?]
    private var head = 0
    private var count = 0
    private var closed = false
    /// The most elements the queue holds.
    let capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        slots = Array(repeating: nil, count: capacity)
    }

    private func appendLocked(_ element: Element) {
        slots[(head + count) % capacity] = element
        count += 1
    }

    private func removeFirstLocked() -> Element {
        let e = slots[head].take()!
        head = (head + 1) % capacity
        count -= 1
        return e
    }

    /// Appends, waiting while full; returns false if the queue was closed.
    @discardableResult
    func push(_ element: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while count >= capacity && !closed { condition.wait() }
        if closed { return false }
        appendLocked(element)
        condition.broadcast()
        return true
    }

    /// Appends without waiting; when full, evicts and returns the oldest element.
    func pushDroppingOldest(_ element: Element) -> Element? {
        condition.lock()
        defer { condition.unlock() }
        if closed { return nil }
        var evicted: Element?
        if count >= capacity { evicted = removeFirstLocked() }
        appendLocked(element)
        condition.broadcast()
        return evicted
    }

    /// Removes the oldest element, waiting for one; nil once closed and drained.
    func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 && !closed { condition.wait() }
        return takeLocked()
    }

    private func takeLocked() -> Element? {
        guard count > 0 else { return nil }
        let e = removeFirstLocked()
        condition.broadcast()
        return e
    }

    /// Closes the queue: pushes fail, pops drain what is left and then return nil.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
