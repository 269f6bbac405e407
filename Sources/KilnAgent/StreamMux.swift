import Foundation

/// Per-stream queues feeding one consumer: the hand-off from capture threads to inference.
///
/// Each stream has its own bounded queue (its own depth). A file stream's producer waits when its
/// queue is full (never drops); a live stream's producer evicts its own oldest frame (keeps the
/// latest) and the evicted frame is returned to be counted as dropped. The consumer takes up to `max`
/// items, at most one per stream, oldest first, rotating which stream goes first.
// unchecked: every mutable field is read and written only with `condition` locked.
final class StreamMux<Item>: @unchecked Sendable {
    private let condition = NSCondition()
    private var queues: [[Item]]
    private var finished: [Bool]
    private var next = 0
    private var cancelled = false
    /// Items each stream's queue holds at most, by stream.
    let depths: [Int]

    init(depths: [Int]) {
        precondition(depths.allSatisfy { $0 > 0 })
        queues = Array(repeating: [], count: depths.count)
        finished = Array(repeating: false, count: depths.count)
        self.depths = depths
    }

    /// Enqueues for `stream`; waits while full unless `live`, in which case the oldest is evicted
    /// and returned. Returns nil and drops `item` silently once cancelled.
    func push(_ item: Item, stream: Int, live: Bool) -> Item? {
        condition.lock()
        defer { condition.unlock() }
        var evicted: Item?
        if live {
            if queues[stream].count >= depths[stream] { evicted = queues[stream].removeFirst() }
        } else {
            while queues[stream].count >= depths[stream] && !cancelled { condition.wait() }
        }
        if cancelled { return nil }
        queues[stream].append(item)
        condition.broadcast()
        return evicted
    }

    /// Marks `stream` as ended: no more pushes come from it.
    func finish(stream: Int) {
        condition.lock()
        finished[stream] = true
        condition.broadcast()
        condition.unlock()
    }

    /// Unblocks everyone and discards nothing already queued; producers stop being admitted.
    func cancel() {
        condition.lock()
        cancelled = true
        for i in finished.indices { finished[i] = true }
        condition.broadcast()
        condition.unlock()
    }

    /// Takes up to `max` items, one per stream, waiting for at least one; nil when every stream
    /// has finished and every queue is drained.
    func popBatch(max: Int) -> [(stream: Int, item: Item)]? {
        condition.lock()
        defer { condition.unlock() }
        while queues.allSatisfy(\.isEmpty) {
            if finished.allSatisfy({ $0 }) { return nil }
            condition.wait()
        }
        var batch: [(Int, Item)] = []
        let n = queues.count
        for k in 0..<n where batch.count < max {
            let s = (next + k) % n
            if !queues[s].isEmpty { batch.append((s, queues[s].removeFirst())) }
        }
        next = (next + 1) % n
        condition.broadcast()
        return batch
    }
}
