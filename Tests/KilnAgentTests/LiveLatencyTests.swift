import Foundation
import KilnTestSupport
import Testing

/// A live camera stand-in (ffmpeg `-re` pacing real video at 20 fps into a `live:` pipe) served by
/// a real model slower than the frame interval (PP-OCRv4 det, reference backend, one thread): the
/// loop must take the newest frame after each engine call, not work through a backlog, and count
/// the frames it skipped as `stale`; a file source never drops. (The latency bound itself is a
/// benchmark: `kiln-bench live`.)
@Suite struct LiveLatencyTests {
    /// `kiln run` on PP-OCRv4 det at `side`x`side` from `source`: the run report.
    static func run(_ source: String, side: Int, extra: [String]) throws -> [String: Any]? {
        guard let model = try TestEnvironment.dataFile("models/ch_PP-OCRv4_det_infer.onnx"),
              try TestEnvironment.tool("ffmpeg") != nil else { return nil }
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
            "run", model.path, "--source", source, "--backend", "reference", "--threads", "1", "--preprocess", "\(side)x\(side)",
            "--report-interval", "0", "--json", "--cache-dir", dir.appendingPathComponent("cache").path,
        ] + extra)
        #expect(r.status == 0, "\(r.stderr)")
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        return try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "\(r.stdout)\n\(r.stderr)")
    }

    static func p50(_ report: [String: Any], _ stage: String) -> Double? {
        ((report["latency_ms"] as? [String: Any])?[stage] as? [String: Any])?["p50"] as? Double
    }

    @Test func aLiveSourceServesTheNewestFrameAndCountsTheSkippedOnesStale() throws {
        guard let video = try TestEnvironment.dataFile("video/bikes.mp4") else { return }
        // 20 fps (a 50 ms interval): PP-OCRv4 det at 640x640 on one thread takes about 100 ms on a
        // quiet 2-core machine (98 ms on one), so the model is reliably the slower side.
        let camera = "ffmpeg -v error -re -stream_loop -1 -i \(video.path) -vf fps=20,scale=640:640 -f rawvideo -pix_fmt rgb24 -"
        guard let report = try Self.run("cam0=pipe:640x640:live:\(camera)", side: 640, extra: ["--duration", "8s"]) else { return }
        let served = try #require(report["frames"] as? Int)
        let byReason = try #require(report["dropped_by_reason"] as? [String: Int], "\(report)")
        let infer = try #require(Self.p50(report, "infer")), queue = try #require(Self.p50(report, "queue"))
        let endToEnd = try #require(Self.p50(report, "end_to_end"))
        #expect(infer > 50, "the model must be slower than the 50 ms frame interval for this test to mean anything: \(report)")
        #expect(served >= 3)
        // Every frame the busy model could not take is stale, and nothing else is dropped.
        #expect(byReason.keys.sorted() == ["stale"], "\(report)")
        #expect(byReason["stale", default: 0] > 0, "at 20 fps a model over 50 ms cannot take every frame: \(report)")
        // The per-stream counts agree with the totals.
        let stream = try #require((report["streams"] as? [String: Any])?["cam0"] as? [String: Any])
        #expect(stream["dropped"] as? Int == report["dropped"] as? Int)
        #expect(abs((stream["fps"] as? Double ?? -1) - (report["fps"] as? Double ?? -2)) < 1e-6, "\(report)")
        // Fresh frames: a backlog would make every frame wait a whole engine call (or several)
        // in the queues; the newest frame waits at most about one frame interval.
        #expect(queue < infer, "queue wait p50 \(queue) ms vs infer p50 \(infer) ms: frames are served from a backlog")
        #expect(endToEnd >= infer)
        // Every frame the camera produced was served or counted: 20 a second for the 8 s run,
        // plus those produced while the engine was being built (counted stale too).
        let accounted = served + byReason["stale", default: 0]
        #expect(accounted >= 120 && accounted <= 320, "\(report)")
    }

    @Test func aFileSourceNeverDropsBehindASlowModel() throws {
        guard let video = try TestEnvironment.dataFile("video/bikes.mp4") else { return }
        let decode = "ffmpeg -v error -i \(video.path) -frames:v 6 -vf scale=320:320 -f rawvideo -pix_fmt rgb24 -"
        guard let report = try Self.run("pipe:320x320:\(decode)", side: 320, extra: []) else { return }
        #expect(report["frames"] as? Int == 6, "\(report)")
        #expect(report["dropped"] as? Int == 0, "\(report)")
        // The queue stage is reported (frames wait behind the engine; files wait, never drop).
        #expect(Self.p50(report, "queue") != nil, "\(report)")
    }
}
