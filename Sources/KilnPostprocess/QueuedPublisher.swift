/// A publisher that sends, from its own thread, what callers queue in a `PublishQueue`
/// (MQTT, webhook, Unix socket): the counts and the last failure every one of them reports.
public protocol QueuedPublisher: Sendable {
    /// What one queued item is.
    associatedtype Message: Sendable
    /// The hand-off between the caller and the publisher thread.
    var queue: PublishQueue<Message> { get }
}

extension QueuedPublisher {
    /// Messages the receiver took (acknowledged, accepted or written in full).
    public var deliveredCount: Int { queue.deliveredCount }
    /// Messages dropped: queue full, refused, cut by a lost connection, or left at close.
    public var droppedCount: Int { queue.droppedCount }
    /// The last failure, if any (for messages and tests).
    public var lastError: String? { queue.lastError }
}
