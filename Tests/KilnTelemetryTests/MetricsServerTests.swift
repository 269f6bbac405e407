import Foundation
import Glibc
import KilnTelemetry
import KilnTestSupport
import Synchronization
import Testing

@Suite struct MetricsServerTests {
    @Test func servesMetricsHealthAndStatusOverRealHTTP() async throws {
        let metrics = KilnMetrics()
        metrics.setFPS(stream: "cam0", 12.5)
        let healthy = Mutex(true)
        let server = MetricsServer(address: "127.0.0.1:0", metrics: metrics, status: { #"{"streams":["cam0"]}"# },
                                   health: { healthy.withLock { $0 } })
        let port = try server.start()
        defer { server.stop() }
        let base = "http://127.0.0.1:\(port)"
        let m = try await http("\(base)/metrics")
        #expect(m.status == 200)
        #expect(m.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(m.body.contains("kiln_fps{stream=\"cam0\"} 12.5\n"))
        #expect(try await http("\(base)/healthz").status == 200)
        healthy.withLock { $0 = false }
        let h = try await http("\(base)/healthz")
        #expect(h.status == 503 && h.body == "unhealthy\n")
        let s = try await http("\(base)/status")
        #expect(s.status == 200 && s.headers["content-type"] == "application/json" && s.body == #"{"streams":["cam0"]}"#)
        #expect(try await http("\(base)/nope").status == 404)
        #expect(try await http("\(base)/metrics", method: "POST", body: "x").status == 405)
    }

    @Test func keepsConnectionsAliveAndAnswersPipelinedRequests() throws {
        let server = MetricsServer(address: "127.0.0.1:0", metrics: KilnMetrics())
        let port = try server.start()
        defer { server.stop() }
        let requests = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let (_, text) = MetricsServerHardeningTests.exchange(port, requests)
        #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count - 1 == 3, "got: \(text)")
        #expect(text.hasSuffix("ok\n"))
    }

    @Test func badAddressesAreUsageErrorsNamingTheFlag() {
        for bad in ["9464", "localhost:http", "[::1]9464", "1.2.3.4:99999"] {
            #expect(throws: TelemetryError.self) { try MetricsServer(address: bad, metrics: KilnMetrics()).start() }
        }
        do {
            try MetricsServer(address: "nope", metrics: KilnMetrics()).start()
        } catch {
            #expect("\(error)".contains("--metrics-addr nope"))
            #expect((error as? TelemetryError)?.exitCode == .usage)
        }
    }

    @Test func runStopsWhenItsTaskIsCancelled() async throws {
        let server = MetricsServer(address: "127.0.0.1:0", metrics: KilnMetrics())
        let task = Task { try await server.run() }
        let port = try #require(try await eventually { server.port > 0 ? server.port : nil })
        #expect(try await http("http://127.0.0.1:\(port)/healthz").status == 200)
        task.cancel()
        try await task.value
        await #expect(throws: (any Error).self) { _ = try await http("http://127.0.0.1:\(port)/healthz") }
    }
}
