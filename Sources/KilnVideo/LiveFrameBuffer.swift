import Foundation
import KilnCore

/// Turns a producer that must never be blocked (a camera, a live pipeline) into a live source:
/// a dedicated thread pulls frames continuously and keeps only the latest; a frame replaced
/// before anyone took it counts as dropped (`stale`).
///
/// `next()` returns the newest frame not yet returned, waiting for one; after the producer ends,
/// it returns the last frame (if untaken), then nil. Every produced frame is therefore either
/// returned or counted as dropped.
// unchecked: every mutable field is read and written only with `condition` locked.
final class LiveFrameBuffer: @unchecked Sendable {
    private let condition = NSCondition()
    private var latest: Frame?
    private var ended = false
    private var failure: (any Error)?
    private var drops: [String: Int] = [:]
    private var thread: Thread?

    /// Starts pulling from `pull` on a thread named `name`; `pull` returns nil at the end.
    ///
    /// `pull` is handed this buffer, so drops it observes itself (driver sequence gaps) are
    /// recorded from its very first call; nothing has to be wired up after the thread started.
    init(name: String, pull: @escaping @Sendable (LiveFrameBuffer) throws -> Frame?) {
        let thread = Thread { [weak self] in
            while true {
                do {
                    guard let owner = self, let frame = try pull(owner) else { break }
                    owner.condition.lock()
                    if owner.latest != nil { owner.drops["stale", default: 0] += 1 }
                    owner.latest = frame
                    owner.condition.signal()
                    owner.condition.unlock()
                } catch {
                    self?.finish(error)
                    return
                }
            }
            self?.finish(nil)
        }
        thread.name = name
        self.thread = thread
        thread.start()
    }

    private func finish(_ error: (any Error)?) {
        condition.lock()
        ended = true
        failure = error
        condition.broadcast()
        condition.unlock()
    }

    /// Adds drops the producer itself observed (e.g. `driver` sequence gaps).
    func recordDrops(_ reason: String, _ count: Int) {
        guard count > 0 else { return }
        condition.lock()
        drops[reason, default: 0] += count
        condition.unlock()
    }

    /// The newest untaken frame, waiting for one; nil when the producer ended.
    func next() throws -> Frame? {
        condition.lock()
        defer { condition.unlock() }
        while latest == nil && !ended { condition.wait() }
        if let frame = latest {
            latest = nil
            return frame
        }
        if let failure {
            self.failure = nil
            throw failure
        }
        return nil
    }

    /// Drops by reason so far.
    var droppedFrames: [String: Int] {
        condition.lock()
        defer { condition.unlock() }
        return drops
    }

    /// Wakes a blocked `next()` with nil (the producer is stopped by its owner).
    func stop() { finish(nil) }
}
