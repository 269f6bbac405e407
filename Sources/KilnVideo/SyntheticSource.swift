import Foundation
import KilnCore
import Synchronization

/// A frame source that needs no camera: a moving test pattern, generated in memory.
///
/// The pattern is a diagonal colour gradient with a bright square that moves across the frame,
/// so a model sees change from frame to frame. Unpaced it never drops (like a file); with a frame
/// rate it behaves like a live camera: frames are produced on a clock, and a frame the consumer
/// was too slow to take is counted as dropped (`reason: "stale"`, as a camera's).
public final class SyntheticSource: FrameSource, Sendable {
    /// The frame width.
    public let width: Int
    /// The frame height.
    public let height: Int
    /// Frames per second for a live-paced source, or nil for as fast as consumed.
    public let framesPerSecond: Double?
    /// The stream name.
    public let stream: String
    private let limit: Int?
    /// The background's two row patterns (red ramp and blue checker, green left 0): rows whose
    /// checker band `y / 32` is even use the first, odd ones the second. A row is its pattern
    /// with the row's green level or-ed in through `greenMask` (0xFF at each green byte), a
    /// loop the compiler vectorises, so no full background frame is kept (a 1280×720 one would
    /// be 2.6 MiB of the demo's resident memory).
    private let rowPatterns: [[UInt8]]
    private let greenMask: [UInt8]
    /// Frame buffers given back by the loop, reused for later frames.
    public let framePool = ByteBufferPool(limit: 16)
    private let state = Mutex<(index: Int, closed: Bool, dropped: Int, start: Double?)>((0, false, 0, nil))

    /// Creates a synthetic source of `width`×`height` RGB frames, optionally paced and limited.
    public init(width: Int = 1280, height: Int = 720, framesPerSecond: Double? = nil, frameLimit: Int? = nil,
                stream: String = "synthetic") {
        self.width = width
        self.height = height
        self.framesPerSecond = framesPerSecond
        self.limit = frameLimit
        self.stream = stream
        rowPatterns = (0..<2).map { band in
            var row = [UInt8](repeating: 0, count: width * 3)
            for x in 0..<width {
                row[x * 3] = UInt8(truncatingIfNeeded: x * 255 / max(1, width - 1))
                row[x * 3 + 2] = UInt8(truncatingIfNeeded: ((x / 32 + band) % 2) * 96 + 64)
            }
            return row
        }
        greenMask = (0..<width * 3).map { $0 % 3 == 1 ? 0xFF : 0 }
    }

    public var description: String {
        "synthetic:\(width)x\(height)" + (framesPerSecond.map { "@\($0)" } ?? "")
    }

    public var isLive: Bool { framesPerSecond != nil }

    public var droppedFrames: [String: Int] {
        let d = state.withLock { $0.dropped }
        return d == 0 ? [:] : ["stale": d]
    }

    public func next() throws -> Frame? {
        let began = MonotonicClock.now
        var index: Int
        if let fps = framesPerSecond {
            // Live pacing: the frame due now is the one produced; missed ones count as dropped.
            let (start, closed, current) = state.withLock { s -> (Double, Bool, Int) in
                if s.start == nil { s.start = began }
                return (s.start!, s.closed, s.index)
            }
            if closed { return nil }
            let due = start + Double(current) / fps
            if due > began { Thread.sleep(forTimeInterval: due - began) }
            let now = MonotonicClock.now
            let latest = max(current, Int((now - start) * fps))
            index = state.withLock { s in
                s.dropped += latest - s.index
                s.index = latest + 1
                return latest
            }
        } else {
            guard let i = state.withLock({ s -> Int? in
                if s.closed { return nil }
                defer { s.index += 1 }
                return s.index
            }) else { return nil }
            index = i
        }
        if let limit, index >= limit { return nil }
        let rendering = MonotonicClock.now  // capture time is the render, not the wait for the frame's due time
        let pixels = render(index)
        let now = MonotonicClock.now
        return Frame(stream: stream, index: index, width: width, height: height, format: .rgb24, pixels: pixels,
                     captureTime: now, captureSeconds: now - rendering, pool: framePool)
    }

    public func close() {
        state.withLock { $0.closed = true }
    }

    /// The pattern for frame `index`: the background (a diagonal gradient over a checker) with a
    /// white square moving diagonally.
    public func render(_ index: Int) -> [UInt8] {
        let rowBytes = width * 3
        var pixels = framePool.take(count: rowBytes * height)
        pixels.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }  // an empty frame has no rows
            greenMask.withUnsafeBufferPointer { mask in
                for y in 0..<height {
                    let row = base + y * rowBytes
                    let green = UInt8(truncatingIfNeeded: y * 255 / max(1, height - 1))
                    rowPatterns[(y / 32) % 2].withUnsafeBufferPointer { pattern in
                        for i in 0..<rowBytes { row[i] = pattern[i] | (mask[i] & green) }
                    }
                }
            }
        }
        let side = max(8, min(width, height) / 6)
        let spanX = max(1, width - side), spanY = max(1, height - side)
        let ox = (index * 7) % (2 * spanX), oy = (index * 5) % (2 * spanY)
        let left = ox < spanX ? ox : 2 * spanX - ox
        let top = oy < spanY ? oy : 2 * spanY - oy
        pixels.withUnsafeMutableBufferPointer { p in
            for y in top..<min(height, top + side) {
                let start = (y * width + left) * 3
                (p.baseAddress! + start).update(repeating: 255, count: min(side, width - left) * 3)
            }
        }
        return pixels
    }
}
