import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import KilnAgent
import KilnCore
import KilnInference
import KilnTelemetry
import KilnVideo

/// `/metrics` under load: the real frame loop (synthetic 1280×720, CPU letterbox, no-op engine)
/// records every frame into Kiln's metrics while `wrk` hammers the telemetry server in the same
/// process; reports wrk's latency and throughput and the loop's FPS with and without the load.
enum MetricsBenchmark: Benchmark {
    static let name = "metrics"
    static let summary = "/metrics latency under wrk load while the loop runs, and the loop's FPS change"

    struct Phase {
        var fps: Double
        var frames: Int
        var wrk: WrkResult?
    }

    struct WrkResult {
        var requestsPerSecond: Double
        var p50: String, p90: String, p99: String
        var errors: String
    }

    static func loopPhase(seconds: Double, width: Int, height: Int, wrk: [String]?, scrapesPerSecond: Double? = nil) async throws -> Phase {
        let telemetry = AgentTelemetry(metricsAddress: "127.0.0.1:0", pushURL: nil)
        _ = try telemetry.services()  // starts the HTTP server thread
        let engine = ActiveEngine(runner: LoopBenchmark.NoOpRunner(), preprocess: PreprocessSpec(width: 640, height: 640),
                                  model: "no-op", digest: "-", backend: "none")
        telemetry.metrics.setModel(name: "no-op", digest: "-", backend: "none", precision: "fp32")
        let statistics = LoopStatistics()
        let loop = FrameLoop(sources: [SyntheticSource(width: width, height: height)], slot: EngineSlot(engine),
                             configuration: .init(duration: seconds, reportInterval: 0.5),
                             observers: telemetry.observers(statistics: { statistics }), statistics: statistics)
        var wrkResult: WrkResult?
        let port = telemetry.boundPort
        let wrkTask: Task<String, any Error>? = wrk.map { tool in
            Task.detached {
                try await Task.sleep(for: .milliseconds(300))
                return try BenchSupport.runProcess(tool[0], Array(tool.dropFirst()) + ["--latency", "-d", "\(Int(seconds - 1))s",
                                                                                     "http://127.0.0.1:\(port)/metrics"])
            }
        }
        let scraper: Task<Void, Never>? = scrapesPerSecond.map { rate in
            Task.detached {
                let url = URL(string: "http://127.0.0.1:\(port)/metrics")!
                while !Task.isCancelled {
                    _ = try? await URLSession.shared.data(from: url)
                    try? await Task.sleep(for: .seconds(1 / rate))
                }
            }
        }
        let summary = try await loop.run()
        scraper?.cancel()
        if let wrkTask {
            let text = try await wrkTask.value
            wrkResult = parseWrk(text)
        }
        return Phase(fps: summary.fps, frames: summary.frames, wrk: wrkResult)
    }

    static func parseWrk(_ text: String) -> WrkResult {
        func field(_ prefix: String) -> String {
            text.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(prefix) }
                .map { $0.trimmingCharacters(in: .whitespaces).dropFirst(prefix.count).trimmingCharacters(in: .whitespaces) } ?? "?"
        }
        let rps = Double(field("Requests/sec:")) ?? 0
        let errors = text.contains("Non-2xx") || text.contains("Socket errors") ? field("Non-2xx or 3xx responses:") + " " + field("Socket errors:") : "0"
        return WrkResult(requestsPerSecond: rps, p50: field("50%"), p90: field("90%"), p99: field("99%"), errors: errors)
    }

    static func run(_ args: [String]) async throws {
        let seconds = Double(BenchSupport.option(args, "--seconds") ?? "") ?? 6
        let connections = BenchSupport.option(args, "--connections") ?? "4"
        guard let wrk = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
        }
        // Cost of recording one frame (5 stage observations + a counter), single thread.
        let metrics = KilnMetrics()
        let n = 1_000_000
        let stages: [PipelineStage: Double] = [.capture: 0.002, .preprocess: 0.004, .infer: 0.01, .postprocess: 0.0005, .endToEnd: 0.02]
        let t0 = MonotonicClock.now
        for _ in 0..<n { metrics.recordFrame(stream: "cam0", stages: stages) }
        let recordNs = (MonotonicClock.now - t0) / Double(n) * 1e9
        let body = metrics.exposition()
        let renderSeconds = BenchSupport.time(iterations: 200) { _ = metrics.exposition() }

        _ = try await loopPhase(seconds: 2, width: 1280, height: 720, wrk: nil)  // warm-up
        // Phases interleaved over several rounds, medians reported: the machine may be shared.
        let rounds = Int(BenchSupport.option(args, "--rounds") ?? "") ?? 3
        var quiets: [Phase] = [], scrapes: [Phase] = [], loads: [Phase] = []
        for _ in 0..<rounds {
            quiets.append(try await loopPhase(seconds: seconds, width: 1280, height: 720, wrk: nil))
            scrapes.append(try await loopPhase(seconds: seconds, width: 1280, height: 720, wrk: nil, scrapesPerSecond: 10))
            loads.append(try await loopPhase(seconds: seconds, width: 1280, height: 720, wrk: [wrk, "-t1", "-c\(connections)"]))
        }
        func median(_ phases: [Phase]) -> Phase { phases.sorted { $0.fps < $1.fps }[phases.count / 2] }
        let quiet = median(quiets), scraped = median(scrapes), loaded = median(loads)
        print("loop frames/s per round: no scrapes \(quiets.map { String(format: "%.0f", $0.fps) }), 10/s \(scrapes.map { String(format: "%.0f", $0.fps) }), wrk \(loads.map { String(format: "%.0f", $0.fps) })")
        print("/metrics under load: in-process telemetry server + real frame loop (synthetic 1280x720, CPU letterbox 640x640, no-op engine),")
        print("\(Int(seconds)) s per phase, medians of \(rounds) interleaved rounds, wrk -t1 -c\(connections) on the same \(ProcessInfo.processInfo.activeProcessorCount)-core machine")
        BenchSupport.table(["phase", "loop frames/s", "frames", "/metrics req/s", "latency p50", "p90", "p99", "errors"], [
            ["no scrapes", String(format: "%.1f", quiet.fps), "\(quiet.frames)", "-", "-", "-", "-", "-"],
            ["10 scrapes/s", String(format: "%.1f", scraped.fps), "\(scraped.frames)", "10", "-", "-", "-", "-"],
            ["wrk on /metrics", String(format: "%.1f", loaded.fps), "\(loaded.frames)",
             String(format: "%.0f", loaded.wrk?.requestsPerSecond ?? 0), loaded.wrk?.p50 ?? "?", loaded.wrk?.p90 ?? "?",
             loaded.wrk?.p99 ?? "?", loaded.wrk?.errors ?? "?"],
        ])
        print(String(format: "loop FPS change: %+.1f%% at 10 scrapes/s, %+.1f%% under wrk load",
                     (scraped.fps / max(quiet.fps, 1e-9) - 1) * 100, (loaded.fps / max(quiet.fps, 1e-9) - 1) * 100))
        print(String(format: "recordFrame: %.0f ns per frame (single thread); exposition: %d bytes rendered in %.1f µs",
                     recordNs, body.utf8.count, renderSeconds * 1e6))
    }
}

extension BenchSupport {
    /// Runs a program to completion and returns its stdout; throws on a non-zero exit.
    static func runProcess(_ executable: String, _ arguments: [String]) throws -> String {
        let (bytes, exit) = try Subprocess.output(executable, arguments)
        guard exit == .exited(0) else { throw RuntimeError("\(executable) \(arguments.joined(separator: " ")) \(exit)") }
        return String(decoding: bytes, as: UTF8.self)
    }
}
