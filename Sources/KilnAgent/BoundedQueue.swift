import KilnSystem

/// A blocking FIFO of fixed capacity between two pipeline threads.
///
/// `push` blocks while full (file sources: never drop); `pushDroppingOldest` never blocks and
/// returns the element it evicted (live sources: keep the latest). `pop` blocks until an element
/// arrives or the queue is closed and empty.
final class BoundedQueue<Element: Sendable>: Sendable {
    /// A ring of `capacity` slots; a slot is emptied when its element leaves, so the queue never
    /// keeps a popped frame (and its pixel buffer) alive.
    private struct Ring: Sendable {
        var slots: [Element?]
        var head = 0
        var count = 0
        var closed = false

        var isFull: Bool { count >= slots.count }

        mutating func append(_ element: Element) {
            slots[(head + count) % slots.count] = element
            count += 1
        }

        mutating func removeFirst() -> Element {
            let e = slots[head].take()!
            head = (head + 1) % slots.count
            count -= 1
            return e
        }
    }

    private let ring: ConditionGuarded<Ring>
    /// The most elements the queue holds.
    let capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        ring = ConditionGuarded(Ring(slots: Array(repeating: nil, count: capacity)))
    }

    /// Appends, waiting while full; returns false if the queue was closed.
    @discardableResult
    func push(_ element: Element) -> Bool {
        let pushed = ring.withLock(when: { !$0.isFull || $0.closed }) { ring in
            if ring.closed { return false }
            ring.append(element)
            return true
        }
        if pushed { ring.broadcast() }
        return pushed
    }

    /// Waits until the queue has room or is closed; returns false once closed.
    ///
    /// A queue's only producer calls it before making its next element, so that element is not
    /// made (a frame decoded or rendered into a pool buffer) only to wait outside a full queue.
    func waitForRoom() -> Bool {
        ring.withLock(when: { !$0.isFull || $0.closed }) { !$0.closed }
    }

    /// Appends without waiting; when full, evicts and returns the oldest element.
    func pushDroppingOldest(_ element: Element) -> Element? {
        let (pushed, evicted): (Bool, Element?) = ring.withLock { ring in
            if ring.closed { return (false, nil) }
            let evicted = ring.isFull ? ring.removeFirst() : nil
            ring.append(element)
            return (true, evicted)
        }
        if pushed { ring.broadcast() }
        return evicted
    }

    /// Removes the oldest element, waiting for one; nil once closed and drained.
    func pop() -> Element? {
        let element = ring.withLock(when: { $0.count > 0 || $0.closed }) { ring in
            ring.count > 0 ? ring.removeFirst() : nil
        }
        if element != nil { ring.broadcast() }
        return element
    }

    /// Closes the queue: pushes fail, pops drain what is left and then return nil.
    func close() {
        ring.withLock { $0.closed = true }
        ring.broadcast()
    }
}
