import Foundation

/// The bounded hand-off between the loop's postprocessing thread and a network publisher's
/// own thread (MQTT, webhook): `push` never blocks; when full, the oldest message is dropped
/// and counted, so a slow or dead receiver costs results, never frames.
///
/// The publisher thread takes messages with `next`/`batch`, reports each outcome with
/// `delivered`/`discarded`, and `close` gives it a grace period to drain.
// unchecked: every mutable field is read and written only with `condition` locked.
public final class PublishQueue<Message: Sendable>: @unchecked Sendable {
    private let capacity: Int
    private let condition = NSCondition()
    private var messages: [Message] = []
    private var head = 0
    private var closing = false
    private var finished = false
    private var deliveredTotal = 0
    private var droppedTotal = 0
    private let onChange: (@Sendable (_ delivered: Int, _ dropped: Int) -> Void)?

    /// A queue holding at most `capacity` messages; `onChange` hears every delivery and drop
    /// (as counts added), e.g. to feed metrics.
    public init(capacity: Int, onChange: (@Sendable (_ delivered: Int, _ dropped: Int) -> Void)? = nil) {
        self.capacity = max(1, capacity)
        self.onChange = onChange
    }

    /// Messages the receiver accepted.
    public var deliveredCount: Int { condition.withLock { deliveredTotal } }
    /// Messages dropped (queue full, refused by the receiver, or left at close).
    public var droppedCount: Int { condition.withLock { droppedTotal } }
    /// Messages waiting.
    public var count: Int { condition.withLock { messages.count - head } }
    /// True once `close` was called.
    public var isClosing: Bool { condition.withLock { closing } }

    /// Queues `message`; never blocks. Drops the oldest when full (and everything after `close`).
    public func push(_ message: Message) {
        let dropped: Int = condition.withLock {
            guard !closing else { droppedTotal += 1; return 1 }
            var dropped = 0
            if messages.count - head >= capacity {
                head += 1
                droppedTotal += 1
                dropped = 1
            }
            messages.append(message)
            compact()
            condition.signal()
            return dropped
        }
        if dropped > 0 { onChange?(0, dropped) }
    }

    /// Up to `limit` messages, waiting until `deadline` for the first; after the first, waits
    /// at most until `fillDeadline` for more (batching). Empty when the deadline passed or the
    /// queue is closing and drained.
    public func batch(limit: Int, deadline: Date, fillDeadline: Date? = nil) -> [Message] {
        condition.withLock {
            while messages.count == head && !closing {
                if !condition.wait(until: deadline) { break }
            }
            if let fillDeadline, !closing {
                while messages.count - head < limit && !closing {
                    if !condition.wait(until: fillDeadline) { break }
                }
            }
            let n = min(limit, messages.count - head)
            let out = Array(messages[head..<(head + n)])
            head += n
            compact()
            return out
        }
    }

    /// Records `count` messages accepted by the receiver.
    public func delivered(_ count: Int = 1) {
        condition.withLock { deliveredTotal += count }
        onChange?(count, 0)
    }

    /// Records `count` messages given up on (refused by the receiver).
    public func discarded(_ count: Int = 1) {
        condition.withLock { droppedTotal += count }
        onChange?(0, count)
    }

    /// Sleeps up to `seconds` (a backoff), waking early when the queue starts closing.
    public func pause(_ seconds: Double) {
        let until = Date().addingTimeInterval(seconds)
        condition.withLock { while !closing { if !condition.wait(until: until) { break } } }
    }

    /// Called by the publisher thread when it has stopped.
    public func publisherFinished() {
        condition.withLock { finished = true; condition.broadcast() }
    }

    /// Stops taking messages and waits up to `grace` seconds for the publisher thread to
    /// drain and finish; what is still queued then is dropped and counted.
    public func close(grace: Double) {
        let deadline = Date().addingTimeInterval(grace)
        let left: Int = condition.withLock {
            closing = true
            condition.broadcast()
            while !finished && condition.wait(until: deadline) {}
            let left = messages.count - head
            droppedTotal += left
            messages.removeAll()
            head = 0
            return left
        }
        if left > 0 { onChange?(0, left) }
    }

    private func compact() {
        if head > 64 && head * 2 > messages.count {
            messages.removeFirst(head)
            head = 0
        }
    }
}
