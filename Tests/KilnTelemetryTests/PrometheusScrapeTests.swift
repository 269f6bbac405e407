import Foundation
import KilnCore
import KilnTelemetry
import KilnTestSupport
import Testing

/// Kiln's endpoint scraped by a real Prometheus (Debian `prometheus`), read back through its API.
@Suite(.serialized) struct PrometheusScrapeTests {
    @Test func realPrometheusScrapesKilnFPSAndFrameCounts() async throws {
        guard let prometheus = try TestEnvironment.tool("prometheus") else { return }
        let metrics = KilnMetrics()
        let server = MetricsServer(address: "127.0.0.1:0", metrics: metrics)
        let kilnPort = try server.start()
        defer { server.stop() }

        // A loop-like producer: frames at ~100 fps through the facade, FPS from the meter.
        let producer = Task.detached {
            var meter = FrameRateWindow(window: 1)
            var i = 0
            while !Task.isCancelled {
                let t0 = MonotonicClock.now
                try? await Task.sleep(for: .milliseconds(10))
                metrics.recordFrame(stream: "cam0", stages: [.capture: 0.001, .infer: MonotonicClock.now - t0, .endToEnd: MonotonicClock.now - t0])
                meter.record()
                i += 1
                if i % 10 == 0 { metrics.setFPS(stream: "cam0", meter.rate()) }
            }
        }
        defer { producer.cancel() }

        let dir = try TestEnvironment.temporaryDirectory("kiln-prom")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (process, api) = try Self.startPrometheus(prometheus, scraping: kilnPort, in: dir)
        defer { process.stop() }
        let fps = try await eventually(timeout: 40) { () -> Double? in
            let r = try await http(api + "kiln_fps%7Bstream%3D%22cam0%22%7D")
            let value = try Self.firstValue(r.body)
            return value.flatMap { $0 > 0 ? $0 : nil }
        }
        let scraped = try #require(fps, "Prometheus never returned kiln_fps; its log:\n\(process.output)")
        #expect(scraped > 20 && scraped < 110, "fps \(scraped)")
        let frames = try await eventually { () -> Double? in
            try Self.firstValue(try await http(api + "kiln_frames_total%7Bstream%3D%22cam0%22%7D").body)
        }
        #expect((frames ?? 0) > 0)
        let up = try await eventually { () -> Double? in try Self.firstValue(try await http(api + "up%7Bjob%3D%22kiln%22%7D").body) }
        #expect(up == 1)
        let p50 = try await eventually { () -> Double? in
            try Self.firstValue(try await http(api + "histogram_quantile(0.5,kiln_latency_seconds_bucket%7Bstage%3D%22infer%22%7D)").body)
        }
        #expect(p50 != nil && p50! > 0.005 && p50! < 0.1, "p50 \(String(describing: p50))")
    }

    @Test func realPrometheusScrapesARunningKilnDemo() async throws {
        guard let prometheus = try TestEnvironment.tool("prometheus"),
              let kiln = try TestEnvironment.tool(TestEnvironment.kilnExecutable) else { return }
        let dir = try TestEnvironment.temporaryDirectory("kiln-prom-demo")
        defer { try? FileManager.default.removeItem(at: dir) }
        let kilnPort = try LoopbackServer.freePort()
        let agent = try ServerProcess(kiln, [
            "demo", "--source", "synthetic:640x360@30", "--duration", "60s", "--metrics-addr", "127.0.0.1:\(kilnPort)",
            "--report-interval", "1s", "--cache-dir", dir.appendingPathComponent("cache").path,
        ], log: dir.appendingPathComponent("kiln.log"))
        defer { agent.stop() }
        let (server, api) = try Self.startPrometheus(prometheus, scraping: kilnPort, in: dir)
        defer { server.stop() }
        let fps = try await eventually(timeout: 45) { () -> Double? in
            try Self.firstValue(try await http(api + "kiln_fps%7Bstream%3D%22synthetic%22%7D").body).flatMap { $0 > 0 ? $0 : nil }
        }
        let value = try #require(fps, "no kiln_fps in Prometheus; kiln log:\n\(agent.output)\nprometheus log:\n\(server.output)")
        // The source paces itself at 30 fps; the tiny demo model keeps up on any machine.
        #expect(value > 20 && value < 33, "kiln_fps \(value)")
        let model = try await eventually { () -> Double? in try Self.firstValue(try await http(api + "kiln_model_info%7Bmodel%3D%22kiln-demo%22%7D").body) }
        #expect(model == 1)
        let status = try await http("http://127.0.0.1:\(kilnPort)/status")
        #expect(status.status == 200 && status.body.contains("kiln-demo"))
        #expect(try await http("http://127.0.0.1:\(kilnPort)/healthz").status == 200)
        // SIGTERM drains and exits cleanly.
        agent.process.terminate()
        agent.process.waitUntilExit()
        #expect(agent.process.terminationStatus == 0, "kiln exit after SIGTERM; log:\n\(agent.output)")
    }

    /// Starts `prometheus` scraping 127.0.0.1:`kilnPort` every second, its configuration, data and
    /// log in `dir`; returns the process and the URL prefix of its instant-query API.
    static func startPrometheus(_ prometheus: String, scraping kilnPort: Int, in dir: URL) throws -> (ServerProcess, api: String) {
        let promPort = try LoopbackServer.freePort()
        try """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: kiln
                static_configs:
                  - targets: ['127.0.0.1:\(kilnPort)']
            """.write(to: dir.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let process = try ServerProcess(prometheus, [
            "--config.file=\(dir.path)/prometheus.yml", "--storage.tsdb.path=\(dir.path)/data",
            "--web.listen-address=127.0.0.1:\(promPort)",
        ], log: dir.appendingPathComponent("prometheus.log"))
        return (process, "http://127.0.0.1:\(promPort)/api/v1/query?query=")
    }

    /// The first sample value of an instant-vector query result.
    static func firstValue(_ body: String) throws -> Double? {
        let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        guard json?["status"] as? String == "success",
            let data = json?["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
            let value = result.first?["value"] as? [Any], value.count == 2, let text = value[1] as? String
        else { return nil }
        return Double(text).flatMap { $0.isNaN ? nil : $0 }
    }
}
