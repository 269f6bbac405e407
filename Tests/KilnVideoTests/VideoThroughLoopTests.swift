import Foundation
import KilnTestSupport
import Testing

/// Real video through the real agent: `kiln demo` with file, ffmpeg and GStreamer sources,
/// counting frames in its JSON summary.
@Suite(.serialized) struct VideoThroughLoopTests {
    /// Runs `kiln demo ARGS --json` and returns the summary object (the last stdout line).
    func demo(_ arguments: [String]) throws -> [String: Any]? {
        guard let kiln = try TestEnvironment.tool(TestEnvironment.kilnExecutable) else { return nil }
        let cache = try TestEnvironment.temporaryDirectory("kiln-cache")
        defer { try? FileManager.default.removeItem(at: cache) }
        let r = try TestEnvironment.run(kiln, ["demo"] + arguments + ["--json", "--report-interval", "0", "--cache-dir", cache.path])
        #expect(r.status == 0, "kiln demo failed: \(r.stderr)")
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        return try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
    }

    @Test func bigBuckBunnyThroughFFmpegRunsAll132FramesThroughTheLoop() throws {
        guard let ffmpeg = try TestEnvironment.tool("ffmpeg"), let video = try bigBuckBunny() else { return }
        guard let summary = try demo(["--source", "pipe:1280x720:\(ffmpeg) -v error -nostdin -i \(video) -f rawvideo -pix_fmt rgb24 -",
                                      "--duration", "120s"]) else { return }
        #expect(summary["frames"] as? Int == 132)
        #expect(summary["dropped"] as? Int == 0)
        let streams = summary["streams"] as? [String: [String: Any]]
        #expect(streams?["stream0"]?["frames"] as? Int == 132)
    }

    @Test func gstreamerVideotestsrcRunsExactlyNumBuffersFramesThroughTheLoop() throws {
        guard try TestEnvironment.tool("gst-launch-1.0") != nil else { return }
        guard let summary = try demo(["--source", "gst:640x360:videotestsrc num-buffers=90", "--duration", "120s"]) else { return }
        #expect(summary["frames"] as? Int == 90)
        #expect(summary["dropped"] as? Int == 0)
    }

    @Test func twoRealStreamsAtOnceKeepTheirOwnCounts() throws {
        guard let ffmpeg = try TestEnvironment.tool("ffmpeg"), try TestEnvironment.tool("gst-launch-1.0") != nil,
              let video = try bigBuckBunny() else { return }
        guard let summary = try demo([
            "--source", "pipe:\(ffmpeg) -v error -nostdin -i \(video) -vf scale=640:360 -f yuv4mpegpipe -pix_fmt yuv420p -",
            "--source", "gst:320x240:videotestsrc num-buffers=50", "--duration", "120s",
        ]) else { return }
        let streams = summary["streams"] as? [String: [String: Any]]
        #expect(streams?["stream0"]?["frames"] as? Int == 132)
        #expect(streams?["stream1"]?["frames"] as? Int == 50)
        #expect(summary["frames"] as? Int == 182)
    }

    @Test func resultsOfEveryFrameReachTheResultsFileAsJSONLines() throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-results")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("results.jsonl").path
        guard let summary = try demo(["--source", "synthetic:320x240", "--frames", "12", "--postprocess", "topk:2",
                                      "--results", "file:\(path)"]) else { return }
        #expect(summary["frames"] as? Int == 12)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 12)
        for (i, line) in lines.enumerated() {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["frame"] as? Int == i && object?["stream"] as? String == "synthetic")
            #expect((object?["classifications"] as? [[String: Any]])?.count == 2)
        }
    }

    @Test func aLiveSourceThroughTheLoopAccountsForEveryFrame() throws {
        guard try TestEnvironment.tool("gst-launch-1.0") != nil else { return }
        guard let summary = try demo(["--source", "gst:1280x720:live:videotestsrc num-buffers=300", "--duration", "120s"]) else { return }
        let frames = summary["frames"] as? Int ?? -1, dropped = summary["dropped"] as? Int ?? -1
        // A live source never blocks the producer: what the loop did not process is counted as dropped.
        #expect(frames + dropped == 300, "frames \(frames) + dropped \(dropped)")
        #expect(frames > 0)
    }
}
