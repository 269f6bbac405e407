import Foundation
import KilnCore

/// Turns a producer that must never be blocked (a camera, a live pipeline) into a live source:
/// a dedicated thread pulls frames continuously and keeps only the latest; a frame replaced
/// before anyone took it counts as dropped (`stale`).
///
/// `next()` returns the newest frame not yet returned, waiting for one; after the producer ends,
/// it returns the last frame (if untaken), then nil. Every produced frame is therefore either
/// returned or counted as dropped.
final class LiveFrameBuffer: Sendable {
    private struct Latest: Sendable {
        var frame: Frame?
        var ended = false
        var failure: (any Error)?
        var drops: [String: Int] = [:]
    }

    private let latest = ConditionGuarded(Latest())

    /// Starts pulling from `pull` on a thread named `name`; `pull` returns nil at the end.
    ///
    /// `pull` is handed this buffer, so drops it observes itself (driver sequence gaps) are
    /// recorded from its very first call; nothing has to be wired up after the thread started.
    init(name: String, pull: @escaping @Sendable (LiveFrameBuffer) throws -> Frame?) {
        let thread = Thread { [weak self] in
            while true {
                do {
                    guard let owner = self, let frame = try pull(owner) else { break }
                    owner.latest.withLock { latest in
                        if latest.frame != nil { latest.drops["stale", default: 0] += 1 }
                        latest.frame = frame
                    }
                    owner.latest.signal()
                } catch {
                    self?.finish(error)
                    return
                }
            }
            self?.finish(nil)
        }
        thread.name = name
        thread.start()
    }

    private func finish(_ error: (any Error)?) {
        latest.withLock { latest in
            latest.ended = true
            latest.failure = error
        }
        latest.broadcast()
    }

    /// Adds drops the producer itself observed (e.g. `driver` sequence gaps).
    func recordDrops(_ reason: String, _ count: Int) {
        guard count > 0 else { return }
        latest.withLock { $0.drops[reason, default: 0] += count }
    }

    /// The newest untaken frame, waiting for one; nil when the producer ended.
    func next() throws -> Frame? {
        try latest.withLock(when: { $0.frame != nil || $0.ended }) { latest in
            if let frame = latest.frame {
                latest.frame = nil
                return frame
            }
            if let failure = latest.failure {
                latest.failure = nil
                throw failure
            }
            return nil
        }
    }

    /// Drops by reason so far.
    var droppedFrames: [String: Int] {
        latest.withLock { $0.drops }
    }

    /// Wakes a blocked `next()` with nil (the producer is stopped by its owner).
    func stop() { finish(nil) }
}
