import Foundation

/// A blocking FIFO of fixed capacity between two pipeline threads.
///
/// `push` blocks while full (file sources: never drop); `pushDroppingOldest` never blocks and
/// returns the element it evicted (live sources: keep the latest). `pop` blocks until an element
/// arrives or the queue is closed and empty.
// unchecked: every mutable field is read and written only with `condition` locked.
final class BoundedQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private var head = 0
    private var closed = false
    /// The most elements the queue holds.
    let capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    private var count: Int { items.count - head }

    private func compact() {
        if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
    }

    /// Appends, waiting while full; returns false if the queue was closed.
    @discardableResult
    func push(_ element: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while count >= capacity && !closed { condition.wait() }
        if closed { return false }
        items.append(element)
        condition.broadcast()
        return true
    }

    /// Appends without waiting; when full, evicts and returns the oldest element.
    func pushDroppingOldest(_ element: Element) -> Element? {
        condition.lock()
        defer { condition.unlock() }
        if closed { return nil }
        var evicted: Element?
        if count >= capacity {
            evicted = items[head]
            head += 1
            compact()
        }
        items.append(element)
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
        let e = items[head]
        head += 1
        compact()
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
