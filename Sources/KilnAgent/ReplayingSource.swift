import KilnVideo
import Synchronization

/// A source whose first frames were read ahead (for the accuracy gate) and are served again first,
/// so a file source loses none of them; then it reads on from the source it wraps.
final class ReplayingSource: FrameSource {
    /// The wrapped source.
    let inner: any FrameSource
    /// The frames read ahead, still to be served.
    private let pending: Mutex<[Frame]>

    /// Reads up to `count` frames ahead from `inner` (all of them for live sources would be stale,
    /// so a live source's frames are kept for the gate but not served again).
    /// Returns the wrapping source and copies of the frames read, detached from the source's pool.
    static func readAhead(_ inner: any FrameSource, count: Int) throws -> (source: any FrameSource, frames: [Frame]) {
        var frames: [Frame] = []
        while frames.count < count, let frame = try inner.next() { frames.append(frame) }
        let copies = frames.map { frame -> Frame in
            var copy = frame
            copy.pool = nil
            return copy
        }
        if inner.isLive { return (inner, copies) }
        return (ReplayingSource(inner, replaying: frames), copies)
    }

    private init(_ inner: any FrameSource, replaying frames: [Frame]) {
        self.inner = inner
        self.pending = Mutex(frames)
    }

    var description: String { inner.description }
    var isLive: Bool { inner.isLive }
    var droppedFrames: [String: Int] { inner.droppedFrames }
    var frameSize: FrameSize? { inner.frameSize }

    func next() throws -> Frame? {
        if let frame = pending.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return frame }
        return try inner.next()
    }

    func close() {
        pending.withLock { $0.removeAll() }
        inner.close()
    }
}
