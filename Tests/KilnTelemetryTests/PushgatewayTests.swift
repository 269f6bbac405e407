import Foundation
import KilnTelemetry
import KilnTestSupport
import Testing

/// Push mode against a real Prometheus Pushgateway (Debian `prometheus-pushgateway`).
@Suite(.serialized) struct PushgatewayTests {
    @Test func pushesReplaceTheGroupAndDeleteRemovesIt() async throws {
        guard let gatewayTool = try TestEnvironment.tool("prometheus-pushgateway") else { return }
        let dir = try TestEnvironment.temporaryDirectory("kiln-pgw")
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try LoopbackServer.freePort()
        let gateway = try ServerProcess(gatewayTool, ["--web.listen-address=127.0.0.1:\(port)"],
                                        log: dir.appendingPathComponent("pushgateway.log"))
        defer { gateway.stop() }
        let base = "http://127.0.0.1:\(port)"
        let ready = try await eventually { try await http("\(base)/-/ready").status == 200 ? true : nil }
        try #require(ready == true, "pushgateway did not start: \(gateway.output)")

        let metrics = KilnMetrics()
        metrics.recordFrame(stream: "cam0", stages: [.infer: 0.004, .endToEnd: 0.009])
        metrics.setFPS(stream: "cam0", 24.5)
        metrics.setModel(name: "det", digest: "sha256:1", backend: "reference", precision: "fp32")
        let pusher = try MetricsPusher(gateway: base, instance: "jetson 7/a", interval: 0.2) { metrics.exposition() }
        #expect(pusher.groupURL.absoluteString == "\(base)/metrics/job/kiln/instance@base64/amV0c29uIDcvYQ==")
        let plain = try MetricsPusher(gateway: base + "/", instance: "jetson 7") { "" }
        #expect(plain.groupURL.absoluteString == "\(base)/metrics/job/kiln/instance/jetson%207")
        try await pusher.push()
        var text = try await http("\(base)/metrics").body
        #expect(text.contains(#"kiln_fps{instance="jetson 7/a",job="kiln",stream="cam0"} 24.5"#), "\(text)")
        #expect(text.contains(#"kiln_frames_total{instance="jetson 7/a",job="kiln",stream="cam0"} 1"#))

        // PUT replaces the group: a stream that went away disappears from the gateway.
        metrics.removeStream("cam0")
        metrics.setFPS(stream: "cam1", 10)
        try await pusher.push()
        text = try await http("\(base)/metrics").body
        #expect(!text.contains(#"kiln_fps{instance="jetson 7/a",job="kiln",stream="cam0"}"#))
        #expect(text.contains(#"kiln_fps{instance="jetson 7/a",job="kiln",stream="cam1"} 10"#))

        // The service pushes on its interval.
        metrics.setFPS(stream: "cam1", 11)
        let task = Task { try await pusher.run() }
        let seen = try await eventually(timeout: 10) { () -> Bool? in
            try await http("\(base)/metrics").body.contains(#"stream="cam1"} 11"#) ? true : nil
        }
        // Stopping pushes the final numbers although the task is cancelled.
        metrics.setFPS(stream: "cam1", 12)
        task.cancel()
        try await task.value
        #expect(seen == true)
        #expect(try await http("\(base)/metrics").body.contains(#"stream="cam1"} 12"#))

        try await pusher.delete()
        text = try await http("\(base)/metrics").body
        #expect(!text.contains("kiln_fps{"))
    }

    @Test func rejectsAGatewayThatIsNotHTTP() {
        #expect(throws: TelemetryError.self) { try MetricsPusher(gateway: "gateway:9091", instance: "a") { "" } }
        #expect(throws: TelemetryError.self) { try MetricsPusher(gateway: "http://g:9091", instance: "") { "" } }
    }

    @Test func aRefusedPushIsAnErrorNamingTheURL() async throws {
        let port = try LoopbackServer.freePort()
        let pusher = try MetricsPusher(gateway: "http://127.0.0.1:\(port)", instance: "a") { "x 1\n" }
        await #expect(throws: TelemetryError.self) { try await pusher.push() }
        do { try await pusher.push() } catch { #expect("\(error)".contains("127.0.0.1:\(port)/metrics/job/kiln/instance/a")) }
    }
}
