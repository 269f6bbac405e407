import Foundation
import KilnCore
import Synchronization

/// The bounded hand-off between the loop's postprocessing thread and a network publisher's
/// own thread (MQTT, webhook): `push` never blocks; when full, the oldest message is dropped
/// and counted, so a slow or dead receiver costs results, never frames.
///
/// `startPublisher` runs the publisher thread, which takes messages with `batch`, reports each
/// outcome with `delivered`/`discarded` and each failure with `noteFailure`; `close` gives it a
/// grace period to drain.
public final class PublishQueue<Message: Sendable>: Sendable {
    private struct Pending: Sendable {
        var messages: [Message] = []
        var head = 0
        var closing = false
        var finished = false
        var deliveredTotal = 0
        var droppedTotal = 0
        /// Messages the publisher took and has not yet reported delivered or discarded.
        var inFlight = 0
        /// Set when `close` has counted everything left (queued and in flight) as dropped:
        /// the counts are final, and the publisher's later reports are not counted again.
        var settled = false

        var count: Int { messages.count - head }

        mutating func take(_ limit: Int) -> [Message] {
            let n = min(limit, count)
            let out = Array(messages[head..<(head + n)])
            head += n
            inFlight += n
            compact()
            return out
        }

        /// Counts `count` taken messages as delivered or dropped; false once settled.
        mutating func report(_ count: Int, delivered: Bool) -> Bool {
            guard !settled else { return false }
            inFlight = max(0, inFlight - count)
            if delivered { deliveredTotal += count } else { droppedTotal += count }
            return true
        }

        mutating func compact() {
            if head > 64 && head * 2 > messages.count {
                messages.removeFirst(head)
                head = 0
            }
        }
    }

    private let capacity: Int
    private let pending = ConditionGuarded(Pending())
    private let onChange: (@Sendable (_ delivered: Int, _ dropped: Int) -> Void)?
    private let failure = Mutex<String?>(nil)

    /// A queue holding at most `capacity` messages; `onChange` hears every delivery and drop
    /// (as counts added), e.g. to feed metrics.
    public init(capacity: Int, onChange: (@Sendable (_ delivered: Int, _ dropped: Int) -> Void)? = nil) {
        self.capacity = max(1, capacity)
        self.onChange = onChange
    }

    /// Messages the receiver accepted.
    public var deliveredCount: Int { pending.withLock { $0.deliveredTotal } }
    /// Messages dropped (queue full, refused by the receiver, or left at close).
    public var droppedCount: Int { pending.withLock { $0.droppedTotal } }
    /// Messages waiting.
    public var count: Int { pending.withLock { $0.count } }
    /// True once `close` was called.
    public var isClosing: Bool { pending.withLock { $0.closing } }
    /// The publisher's last failure, if any (for messages and tests).
    public var lastError: String? { failure.withLock { $0 } }

    /// Runs `body`, the publisher, on its own thread named `name`; the queue learns when it ends.
    public func startPublisher(named name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            body()
            publisherFinished()
        }
        thread.name = name
        thread.start()
    }

    /// Records the publisher's latest failure; true when it differs from the one before, so an
    /// outage is logged once, not once per retry.
    public func noteFailure(_ why: String) -> Bool {
        failure.withLock { old in
            defer { old = why }
            return old != why
        }
    }

    /// Queues `message`; never blocks. Drops the oldest when full (and everything after `close`).
    public func push(_ message: Message) {
        let (queued, dropped): (Bool, Int) = pending.withLock { pending in
            guard !pending.closing else {
                pending.droppedTotal += 1
                return (false, 1)
            }
            var dropped = 0
            if pending.count >= capacity {
                pending.head += 1
                pending.droppedTotal += 1
                dropped = 1
            }
            pending.messages.append(message)
            pending.compact()
            return (true, dropped)
        }
        if queued { pending.signal() }
        if dropped > 0 { onChange?(0, dropped) }
    }

    /// Up to `limit` messages, waiting until `deadline` for the first; after the first, waits
    /// at most until `fillDeadline` for more (batching). Empty when the deadline passed or the
    /// queue is closing and drained.
    public func batch(limit: Int, deadline: Date, fillDeadline: Date? = nil) -> [Message] {
        pending.wait(until: { $0.count > 0 || $0.closing }, deadline: deadline)
        if let fillDeadline {
            pending.wait(until: { $0.count >= limit || $0.closing }, deadline: fillDeadline)
        }
        return pending.withLock { $0.take(limit) }
    }

    /// Records `count` taken messages accepted by the receiver (not counted after `close`
    /// settled: they were counted as dropped then).
    public func delivered(_ count: Int = 1) {
        if pending.withLock({ $0.report(count, delivered: true) }) { onChange?(count, 0) }
    }

    /// Records `count` taken messages given up on (refused by the receiver); not counted again
    /// after `close` settled.
    public func discarded(_ count: Int = 1) {
        if pending.withLock({ $0.report(count, delivered: false) }) { onChange?(0, count) }
    }

    /// Sleeps up to `seconds` (a backoff), waking early when the queue starts closing.
    public func pause(_ seconds: Double) {
        pending.wait(until: \.closing, deadline: Date().addingTimeInterval(seconds))
    }

    /// Marks the publisher thread stopped (`startPublisher` calls it when its body returns).
    func publisherFinished() {
        pending.withLock { $0.finished = true }
        pending.broadcast()
    }

    /// Stops taking messages and waits up to `grace` seconds for the publisher thread to
    /// drain and finish; what is still queued or in the publisher's hands then is dropped and
    /// counted, so the counts are final when `close` returns: delivered + dropped = pushed.
    public func close(grace: Double) {
        let deadline = Date().addingTimeInterval(grace)
        pending.withLock { $0.closing = true }
        pending.broadcast()
        let left: Int = pending.withLock(when: \.finished, deadline: deadline) { pending in
            let left = pending.count + pending.inFlight
            pending.droppedTotal += left
            pending.messages.removeAll()
            pending.head = 0
            pending.inFlight = 0
            pending.settled = true
            return left
        }
        if left > 0 { onChange?(0, left) }
    }
}
