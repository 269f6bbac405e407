import KilnSystem

/// Per-stream queues feeding one consumer: the hand-off from capture threads to inference.
///
/// Each stream has its own bounded queue (its own depth). A file stream's producer waits when its
/// queue is full (never drops); a live stream's producer evicts its own oldest frame (keeps the
/// latest) and the evicted frame is returned to be counted as dropped. The consumer takes up to `max`
/// items, at most one per stream, oldest first, rotating which stream goes first.
final class StreamMux<Item: Sendable>: Sendable {
    private struct Queues: Sendable {
        var queues: [[Item]]
        var finished: [Bool]
        var next = 0
        var cancelled = false
    }

    private let state: ConditionGuarded<Queues>
    /// Items each stream's queue holds at most, by stream.
    let depths: [Int]

    init(depths: [Int]) {
        precondition(depths.allSatisfy { $0 > 0 })
        state = ConditionGuarded(Queues(queues: Array(repeating: [], count: depths.count),
                                        finished: Array(repeating: false, count: depths.count)))
        self.depths = depths
    }

    /// Enqueues for `stream`; waits while full unless `live`, in which case the oldest is evicted
    /// and returned. Returns nil and drops `item` silently once cancelled.
    func push(_ item: Item, stream: Int, live: Bool) -> Item? {
        let depth = depths[stream]
        let room: (Queues) -> Bool = { live || $0.queues[stream].count < depth || $0.cancelled }
        let (pushed, evicted): (Bool, Item?) = state.withLock(when: room) { state in
            if state.cancelled { return (false, nil) }
            let evicted = state.queues[stream].count >= depth ? state.queues[stream].removeFirst() : nil
            state.queues[stream].append(item)
            return (true, evicted)
        }
        if pushed { state.broadcast() }
        return evicted
    }

    /// Waits until `stream`'s queue has room or the mux is cancelled.
    ///
    /// The stream's only producer calls it before taking its next frame, so a file stream's frame
    /// is not preprocessed only to wait, buffers held, outside a full queue.
    func waitForRoom(stream: Int) {
        let depth = depths[stream]
        state.wait(until: { $0.queues[stream].count < depth || $0.cancelled })
    }

    /// Marks `stream` as ended: no more pushes come from it.
    func finish(stream: Int) {
        state.withLock { $0.finished[stream] = true }
        state.broadcast()
    }

    /// Unblocks everyone and discards nothing already queued; producers stop being admitted.
    func cancel() {
        state.withLock { state in
            state.cancelled = true
            for i in state.finished.indices { state.finished[i] = true }
        }
        state.broadcast()
    }

    /// Takes up to `max` items, one per stream, waiting for at least one; nil when every stream
    /// has finished and every queue is drained.
    func popBatch(max: Int) -> [(stream: Int, item: Item)]? {
        let ready: (Queues) -> Bool = { !$0.queues.allSatisfy(\.isEmpty) || $0.finished.allSatisfy { $0 } }
        let batch: [(stream: Int, item: Item)]? = state.withLock(when: ready) { state in
            if state.queues.allSatisfy(\.isEmpty) { return nil }
            var batch: [(stream: Int, item: Item)] = []
            let n = state.queues.count
            for k in 0..<n where batch.count < max {
                let s = (state.next + k) % n
                if !state.queues[s].isEmpty { batch.append((s, state.queues[s].removeFirst())) }
            }
            state.next = (state.next + 1) % n
            return batch
        }
        if batch != nil { state.broadcast() }
        return batch
    }
}
