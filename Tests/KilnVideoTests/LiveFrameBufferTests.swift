import Foundation
import Synchronization
import Testing

@testable import KilnVideo

/// The live buffer behind V4L2 and live pipe sources: every frame is returned or counted as a drop.
@Suite struct LiveFrameBufferTests {
    /// Hands out `count` frame indices to the producer thread, then nil.
    final class Countdown: Sendable {
        private let next = Mutex(0)
        let count: Int
        init(_ count: Int) { self.count = count }
        func take() -> Int? {
            next.withLock { n in
                guard n < count else { return nil }
                defer { n += 1 }
                return n
            }
        }
    }

    /// The V4L2 producer reports driver sequence gaps through the buffer it fills; drops seen on the
    /// very first capture, before the constructor has even returned, must be counted too (they
    /// were lost while the drop sink was wired up only after the capture thread had started).
    @Test func dropsReportedFromTheFirstCaptureOnAreAllCounted() throws {
        let frames = Countdown(50)
        let live = LiveFrameBuffer(name: "kiln-test-live") { live in
            guard let index = frames.take() else { return nil }
            live.recordDrops("driver", 2)
            return Frame(stream: "cam", index: index, width: 2, height: 1, format: .rgb24, pixels: [UInt8](repeating: 0, count: 6),
                         captureTime: 0, captureSeconds: 0)
        }
        var returned = 0
        while try live.next() != nil { returned += 1 }
        let drops = live.droppedFrames
        #expect(drops["driver"] == 100)
        #expect(returned + (drops["stale"] ?? 0) == 50)
    }
}
