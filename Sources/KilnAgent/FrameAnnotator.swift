import Foundation
import KilnCore
import KilnPostprocess
import KilnTelemetry
import KilnVideo
import Synchronization

/// What the device sees: the latest frame of each stream with its results drawn, served as
/// PNG on `GET /snapshot.png[?stream=NAME]`; annotated frames saved every N frames
/// (`--save-frames DIR --every N`); and the per-class detection counter
/// (`kiln_detections_total{class}`).
///
/// Bounded cost: the loop copies a frame's pixels only when `wantsPixels` says so (a snapshot
/// frame at most every `snapshotInterval` seconds per stream, plus every Nth frame to save);
/// a snapshot is encoded on request, at most `maxEncodesPerSecond` times a second (a request in
/// between gets the last PNG); saved frames are encoded and written on their own thread from a
/// queue of two (a disk that cannot keep up skips frames, counted in the log), and the directory
/// keeps at most `maxFiles` PNGs, the oldest removed first.
public final class FrameAnnotator: Sendable {
    /// `--save-frames DIR --every N --save-frames-max M`.
    public struct SaveFrames: Sendable, Equatable {
        /// The directory PNGs go to (created when missing).
        public var directory: String
        /// Save one frame in `every` of each stream.
        public var every: Int
        /// PNGs the directory keeps at most; the oldest are removed.
        public var maxFiles: Int

        /// Creates save settings.
        public init(directory: String, every: Int = 30, maxFiles: Int = 1000) {
            self.directory = directory
            self.every = max(1, every)
            self.maxFiles = max(1, maxFiles)
        }
    }

    /// A frame kept with its overlays drawn.
    private struct Kept: Sendable {
        var index: Int
        var width: Int
        var height: Int
        var pixels: [UInt8]
    }

    private struct State {
        var lastKept: [String: Double] = [:]
        var seen: [String: Int] = [:]
        var toSave: [String: [Int]] = [:]
        var latest: [String: Kept] = [:]
        var encoded: [String: (index: Int, png: [UInt8])] = [:]
        var lastEncode = -Double.infinity
    }

    /// Whether a snapshot frame is kept (a metrics server serves it).
    public let snapshots: Bool
    /// Seconds between two frames kept for the snapshot, per stream.
    public let snapshotInterval: Double
    /// Snapshot encodings a second at most.
    public let maxEncodesPerSecond: Double
    /// Saving annotated frames, if asked.
    public let save: SaveFrames?
    private let metrics: KilnMetrics?
    private let state = Mutex(State())
    private let writer: FrameFileWriter?

    /// Creates an annotator; `metrics` receives the per-class counts. Throws when the save
    /// directory cannot be created.
    public init(snapshots: Bool, save: SaveFrames? = nil, metrics: KilnMetrics? = nil,
                snapshotInterval: Double = 0.5, maxEncodesPerSecond: Double = 4) throws {
        self.snapshots = snapshots
        self.save = save
        self.metrics = metrics
        self.snapshotInterval = snapshotInterval
        self.maxEncodesPerSecond = maxEncodesPerSecond
        writer = try save.map { try FrameFileWriter($0) }
    }

    /// Called by the loop once per frame before its pixels are released: whether to keep a copy
    /// for `record` (a snapshot is due for the stream, or the frame is one to save).
    public func wantsPixels(stream: String, index: Int, now: Double = MonotonicClock.now) -> Bool {
        state.withLock { s in
            var keep = false
            if let save {
                let n = s.seen[stream, default: 0]
                s.seen[stream] = n + 1
                if n % save.every == 0 {
                    s.toSave[stream, default: []].append(index)
                    keep = true
                }
            }
            if snapshots, now - s.lastKept[stream, default: -.infinity] >= snapshotInterval {
                s.lastKept[stream] = now
                keep = true
            }
            return keep
        }
    }

    /// Records one frame's results: counts detections per class and, when the frame's pixels
    /// were kept, draws the detections (boxes and captions) and the classifications (the top
    /// three classes as captions at the top left) on them for the snapshot and the saved frames.
    public func record(_ context: FrameContext, results: [FrameResult]) {
        let detections = results.flatMap { $0.detections ?? [] }
        if let metrics, !detections.isEmpty { metrics.recordDetections(classes: detections.map { $0.label ?? "\($0.classId)" }) }
        guard var pixels = context.pixels, pixels.count == context.width * context.height * 3 else { return }
        var overlays = detections.map { d in
            FrameOverlay(x1: d.box.x1, y1: d.box.y1, x2: d.box.x2, y2: d.box.y2, colorIndex: d.classId,
                         text: "\(d.label ?? "class \(d.classId)") " + String(format: "%.2f", d.score))
        }
        // Classifications: each result's top classes (at most three) as captions at the top left.
        let classes = results.flatMap { ($0.classifications ?? []).prefix(3) }
        overlays += classes.enumerated().map { line, c in
            FrameOverlay.caption("\(c.label ?? "class \(c.classId)") " + String(format: "%.2f", c.score), line: line, colorIndex: c.classId)
        }
        FramePainter.draw(overlays, on: &pixels, width: context.width, height: context.height)
        let kept = Kept(index: context.index, width: context.width, height: context.height, pixels: pixels)
        let stream = context.stream
        let saveThis = state.withLock { s -> Bool in
            if snapshots { s.latest[stream] = kept }
            guard var due = s.toSave[stream] else { return false }
            let hit = due.contains(kept.index)
            due.removeAll { $0 <= kept.index }
            s.toSave[stream] = due
            return hit
        }
        if saveThis { writer?.enqueue(stream: stream, index: kept.index, width: kept.width, height: kept.height, pixels: kept.pixels) }
    }

    /// The PNG of `stream`'s latest kept frame (any stream's when nil: the first by name), or nil
    /// when none has been kept yet or the stream is unknown.
    public func snapshotPNG(stream: String?, now: Double = MonotonicClock.now) -> [UInt8]? {
        let picked = state.withLock { s -> (String, Kept, [UInt8]?, Bool)? in
            guard let name = stream ?? s.latest.keys.sorted().first, let kept = s.latest[name] else { return nil }
            let cached = s.encoded[name]
            if let cached, cached.index == kept.index { return (name, kept, cached.png, false) }
            // At most maxEncodesPerSecond encodings: in between, the last PNG (when there is one).
            if let cached, now - s.lastEncode < 1 / maxEncodesPerSecond { return (name, kept, cached.png, false) }
            s.lastEncode = now
            return (name, kept, nil, true)
        }
        guard let (name, kept, cached, encode) = picked else { return nil }
        if !encode { return cached }
        let png = PNGEncoder.encode(rgb: kept.pixels, width: kept.width, height: kept.height)
        state.withLock { $0.encoded[name] = (kept.index, png) }
        return png
    }

    /// The streams a snapshot exists for.
    public var snapshotStreams: [String] { state.withLock { $0.latest.keys.sorted() } }

    /// Writes the frames still queued and stops the writer thread.
    public func finish() { writer?.finish() }
}
