import Foundation
import KilnTestSupport
import KilnVideo
import Testing

/// Real ffmpeg and GStreamer producers on real video.
@Suite struct PipeSourceTests {
    @Test func bigBuckBunnyThroughFFmpegRawPipeGivesAll132Frames() throws {
        guard let ffmpeg = try TestEnvironment.tool("ffmpeg"), let video = try bigBuckBunny() else { return }
        let spec = try SourceSpec.parse("pipe:1280x720:\(ffmpeg) -v error -nostdin -i \(video) -f rawvideo -pix_fmt rgb24 -")
        let source = try spec.makeSource(stream: "bbb")
        defer { source.close() }
        #expect(!source.isLive)
        var count = 0
        var first: Frame?
        while let f = try source.next() {
            #expect(f.index == count && f.width == 1280 && f.height == 720 && f.format == .rgb24 && f.pixels.count == 1280 * 720 * 3)
            if first == nil { first = f }
            count += 1
        }
        #expect(count == 132)
        #expect(source.droppedFrames.isEmpty)
        // The frame is real picture content, not a constant.
        let px = try #require(first?.pixels)
        #expect(Set(px.prefix(30000)).count > 50)
    }

    @Test func bigBuckBunnyAsY4MOverAPipeNeedsNoSize() throws {
        guard let ffmpeg = try TestEnvironment.tool("ffmpeg"), let video = try bigBuckBunny() else { return }
        let source = try SourceSpec.parse("pipe:\(ffmpeg) -v error -nostdin -i \(video) -vf scale=320:180 -f yuv4mpegpipe -pix_fmt yuv420p -").makeSource(stream: "bbb")
        defer { source.close() }
        let frames = try drain(source)
        #expect(frames.count == 132)
        #expect(frames.allSatisfy { $0.width == 320 && $0.height == 180 && $0.format == .rgb24 })
    }

    @Test func gstreamerVideotestsrcGivesExactlyNumBuffersFrames() throws {
        guard try TestEnvironment.tool("gst-launch-1.0") != nil else { return }
        let source = try SourceSpec.parse("gst:320x240:videotestsrc num-buffers=75").makeSource(stream: "gst")
        defer { source.close() }
        let frames = try drain(source)
        #expect(frames.count == 75)
        #expect(frames.map(\.index) == Array(0..<75))
        // SMPTE bars: the left bar is 75% white (equal channels, bright); the last column of the
        // top section is blue-dominant.
        let f = try #require(frames.first)
        let p = Array(f.pixels[0..<3])
        #expect(p[0] == p[1] && p[1] == p[2] && p[0] > 150, "top-left \(p)")
        let right = Array(f.pixels[(319 * 3)..<(320 * 3)])
        #expect(right[2] > 150 && right[0] < 60 && right[1] < 60, "top-right \(right)")
    }

    @Test func gstreamerWithoutSizeUsesY4M() throws {
        guard try TestEnvironment.tool("gst-launch-1.0") != nil else { return }
        let source = try SourceSpec.parse("gst:videotestsrc num-buffers=10 ! video/x-raw,width=160,height=120").makeSource(stream: "gst")
        defer { source.close() }
        let frames = try drain(source)
        #expect(frames.count == 10 && frames.allSatisfy { $0.width == 160 && $0.height == 120 })
    }

    @Test func aLivePipeKeepsTheLatestFrameAndCountsEveryDrop() throws {
        guard try TestEnvironment.tool("gst-launch-1.0") != nil else { return }
        let source = try SourceSpec.parse("gst:64x48:live:videotestsrc num-buffers=200").makeSource(stream: "live")
        defer { source.close() }
        #expect(source.isLive)
        let frames = try drain(source, delay: 0.01)
        let dropped = source.droppedFrames["stale"] ?? 0
        #expect(dropped > 0, "a slow consumer must see drops")
        #expect(frames.count + dropped == 200, "delivered \(frames.count) + dropped \(dropped)")
        #expect(frames.last?.index == 199, "the newest frame is always delivered")
        #expect(zip(frames, frames.dropFirst()).allSatisfy { $0.index < $1.index })
    }

    @Test func aFailingProducerIsAnErrorWithItsStderr() throws {
        guard let ffmpeg = try TestEnvironment.tool("ffmpeg") else { return }
        #expect {
            let s = try SourceSpec.parse("pipe:\(ffmpeg) -v error -nostdin -i /nonexistent/clip.mp4 -f yuv4mpegpipe -").makeSource(stream: "x")
            _ = try s.next()
        } throws: { error in
            let text = "\(error)"
            return text.contains("exited with status") && text.contains("/nonexistent/clip.mp4")
        }
    }

    @Test func aWrongSizeIsCaughtAsAMidFrameEnd() throws {
        guard let ffmpeg = try TestEnvironment.tool("ffmpeg"), let video = try bigBuckBunny() else { return }
        // 3 frames of 320x180 RGB are not a whole number of 300x200 frames.
        let source = try SourceSpec.parse("pipe:300x200:\(ffmpeg) -v error -nostdin -i \(video) -frames:v 3 -vf scale=320:180 -f rawvideo -pix_fmt rgb24 -").makeSource(stream: "x")
        defer { source.close() }
        #expect { _ = try drain(source) } throws: { "\($0)".contains("stream ended mid-frame") && "\($0)".contains("300x200") }
    }

    @Test func closeEndsAnEndlessProducer() throws {
        let source = try SourceSpec.parse("pipe:16x16:cat /dev/zero").makeSource(stream: "z")
        #expect(try source.next()?.pixels.count == 16 * 16 * 3)
        source.close()
        #expect(try source.next() == nil)
    }
}

