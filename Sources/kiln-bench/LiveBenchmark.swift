import Foundation
import KilnAgent
import KilnCore

/// Honest live latency: a real paced camera stand-in (ffmpeg `-re` decoding a real video at
/// 10 fps into a `live:` pipe) feeding `kiln run` with a real model slower than the frame
/// interval (PP-OCRv4 det on the reference backend at one thread). A live source must serve the
/// newest frame, not a backlog: end-to-end p50 (capture → result) stays within infer p50 + one
/// frame interval + 50 ms, and the frames the busy model could not take are counted as `stale`.
/// Each input size is one `kiln run --json` process; the table is what its report says.
enum LiveBenchmark: Benchmark {
    static let name = "live"
    static let summary = "live 10 fps ffmpeg source, model slower than a frame: end-to-end p50 vs infer p50 + interval + 50 ms, stale drops"

    static func run(_ args: [String]) async throws {
        let data = BenchSupport.testData
        let model = BenchSupport.option(args, "--model") ?? data + "/models/ch_PP-OCRv4_det_infer.onnx"
        let video = BenchSupport.option(args, "--video") ?? data + "/video/bikes.mp4"
        let seconds = BenchSupport.option(args, "--seconds") ?? "20s"
        let threads = BenchSupport.option(args, "--threads") ?? "1"
        let fps = 10.0
        let sizeText = (BenchSupport.option(args, "--sizes") ?? "640").split(separator: ",")
        let sizes = sizeText.compactMap { Int($0) }
        guard !sizes.isEmpty, sizes.count == sizeText.count, sizes.allSatisfy({ $0 >= 32 && $0 <= 4096 && $0 % 32 == 0 }) else {
            throw BenchmarkUsageError(message: "live: --sizes takes model input sides, multiples of 32 (e.g. 640,960)")
        }
        for (what, path) in [("model", model), ("video", video)] where !FileManager.default.fileExists(atPath: path) {
            throw BenchmarkUsageError(message: "live: no \(what) at \(path); run Tests/run.sh once (it fetches the test data) or pass --\(what) PATH")
        }
        let kiln = try BenchSupport.kilnBinary(args, benchmark: name)
        var rows: [[String]] = []
        for side in sizes {
            // The camera: ffmpeg paces the real video at its own rate (-re), resamples it to 10 fps
            // and writes raw RGB frames of the model's input size to the pipe, forever.
            let camera = "ffmpeg -v error -re -stream_loop -1 -i '\(video)' -vf fps=\(Int(fps)),scale=\(side):\(side) -f rawvideo -pix_fmt rgb24 -"
            let arguments = ["run", model, "--backend", "reference", "--threads", threads, "--preprocess", "\(side)x\(side)",
                             "--source", "pipe:\(side)x\(side):live:\(camera)", "--duration", seconds, "--report-interval", "0", "--json"]
            let report = try BenchSupport.kilnReport(kiln: kiln, arguments, benchmark: name)
            guard report.frames > 0, let e2e = report.latencyMilliseconds["end_to_end"], let infer = report.latencyMilliseconds["infer"],
                  let queue = report.latencyMilliseconds["queue"], let capture = report.latencyMilliseconds["capture"] else {
                throw RuntimeError("live: kiln run at \(side)x\(side) finished no frame; its report: \(report.text)")
            }
            let bound = infer.p50 + 1000 / fps + 50
            let stale = report.droppedByReason["stale", default: 0]
            rows.append(["\(side)x\(side)", "\(report.frames)", "\(stale)", String(format: "%.1f", capture.p50),
                         String(format: "%.1f", queue.p50), String(format: "%.1f", infer.p50), String(format: "%.1f", e2e.p50),
                         String(format: "%.1f", e2e.p99), String(format: "%.1f", bound), e2e.p50 <= bound ? "yes" : "NO"])
        }
        print("Live source: ffmpeg -re \(URL(fileURLWithPath: video).lastPathComponent) at \(Int(fps)) fps (frame interval \(Int(1000 / fps)) ms) -> live pipe -> "
              + "\(URL(fileURLWithPath: model).lastPathComponent), reference backend, \(threads) thread(s), \(seconds) per row, "
              + "\(ProcessInfo.processInfo.activeProcessorCount) cores; latencies in ms")
        BenchSupport.table(["input", "frames", "stale", "capture p50", "queue p50", "infer p50", "end-to-end p50", "end-to-end p99",
                            "infer p50 + 100 + 50", "within"], rows)
    }
}
