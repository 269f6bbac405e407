import Foundation
import KilnTestSupport
import KilnVideo
import Testing

@Suite struct FileSourceTests {
    @Test func rawAndY4MFilesDeliverEveryFrameAndAgreeWithFFmpeg() throws {
        guard let ffmpeg = try TestEnvironment.tool("ffmpeg"), let video = try bigBuckBunny() else { return }
        let dir = try TestEnvironment.temporaryDirectory("kiln-video")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rgb = try ffmpegOutput(ffmpeg, ["-i", video, "-frames:v", "40", "-vf", "scale=320:180", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        #expect(rgb.count == 40 * 320 * 180 * 3)
        let rawPath = dir.appendingPathComponent("bbb.rgb").path
        try rgb.write(to: URL(fileURLWithPath: rawPath))
        let y4mPath = dir.appendingPathComponent("bbb.y4m").path
        try ffmpegOutput(ffmpeg, ["-i", video, "-frames:v", "40", "-vf", "scale=320:180", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "-"])
            .write(to: URL(fileURLWithPath: y4mPath))

        let raw = try SourceSpec.parse("raw:\(rawPath):320x180").makeSource(stream: "raw")
        let y4m = try SourceSpec.parse(y4mPath).makeSource(stream: "y4m")
        defer { raw.close(); y4m.close() }
        #expect(!raw.isLive && !y4m.isLive)
        let rawFrames = try drain(raw), y4mFrames = try drain(y4m)
        #expect(rawFrames.count == 40 && y4mFrames.count == 40)
        #expect(rawFrames.flatMap(\.pixels) == Array(rgb), "raw frames are the file's bytes")
        // Kiln's I420 -> RGB conversion against ffmpeg's, on real video.
        for i in [0, 20, 39] {
            let d = meanAbsoluteDifference(y4mFrames[i].pixels, rawFrames[i].pixels)
            #expect(d < 3, "frame \(i): mean |Kiln - ffmpeg| = \(d)")
        }
        #expect(try raw.next() == nil, "stays at the end")
    }

    @Test func aRawFileThatIsNotWholeFramesIsRejected() throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-video")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.rgb").path
        try Data(count: 1000).write(to: URL(fileURLWithPath: path))
        #expect { try SourceSpec.parse("raw:\(path):10x10").makeSource(stream: "x") } throws: {
            "\($0)".contains("1000 bytes is not a whole number of 10x10 rgb24 frames (300 bytes each)")
        }
        #expect { try SourceSpec.parse("raw:/nonexistent.rgb:10x10").makeSource(stream: "x") } throws: {
            "\($0)".contains("/nonexistent.rgb: cannot open video file")
        }
        let notY4M = dir.appendingPathComponent("x.y4m").path
        try Data("GIF89a\n".utf8).write(to: URL(fileURLWithPath: notY4M))
        #expect { try SourceSpec.parse(notY4M).makeSource(stream: "x") } throws: { "\($0)".contains("not a YUV4MPEG2 stream") }
    }
}
