import Foundation
import Glibc
@testable import KilnTelemetry
import KilnTestSupport
import Testing

/// The telemetry endpoint under abuse: slow clients by the thousand, descriptor exhaustion,
/// unauthenticated and cross-origin control requests, and the meaning of `:PORT`.
@Suite struct MetricsServerHardeningTests {
    /// Sends `request` on a fresh connection and returns the status code and the whole response.
    static func exchange(_ port: Int, _ request: String, timeout: Double = 5) -> (status: Int, text: String) {
        guard let text = LoopbackServer.exchange(port: port, request, timeout: timeout) else {
            return (0, "connect to 127.0.0.1:\(port) failed")
        }
        let status = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, text)
    }

    @Test func controlRoutesNeedTheBearerTokenAndRefuseCrossOriginRequests() throws {
        let server = MetricsServer(address: "127.0.0.1:0", metrics: KilnMetrics())
        server.addAction(path: "/rollout/poll") { "polling\n" }
        let port = try server.start()
        defer { server.stop() }
        func post(_ headers: String) -> Int {
            Self.exchange(port, "POST /rollout/poll HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\(headers)\r\n").status
        }
        #expect(post("") == 403)  // no token configured: control is off
        let token = "0123456789abcdef0123456789abcdef"
        server.setControlToken(token)
        #expect(post("") == 401)
        #expect(post("Authorization: Bearer wrong-token-wrong-token\r\n") == 401)
        #expect(post("Authorization: Bearer \(token)\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\n") == 403)
        #expect(post("Authorization: Bearer \(token)\r\n") == 202)
        #expect(Self.exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status == 200)
    }

    @Test func colonPortMeansLoopbackAndAllInterfacesMustBeWrittenOut() throws {
        #expect(try MetricsServer.split(":9464") == ("127.0.0.1", "9464"))
        #expect(try MetricsServer.split("0.0.0.0:9464") == ("0.0.0.0", "9464"))
    }

    @Test func theTokenFileMustBeOwnerOnlyAndHoldARealToken() throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("token").path
        try "0123456789abcdef0123456789abcdef\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        #expect(throws: TelemetryError.self) { try ControlToken.read(path: path) }
        chmod(path, 0o600)
        #expect(try ControlToken.read(path: path) == "0123456789abcdef0123456789abcdef")
        try "short\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: TelemetryError.self) { try ControlToken.read(path: path) }
        #expect(throws: TelemetryError.self) { try ControlToken.read(path: dir.appendingPathComponent("missing").path) }
    }

    @Test func slowHeadersAndIdleConnectionsAreClosed() throws {
        let server = MetricsServer(address: "127.0.0.1:0", exposition: { "" }, status: { "{}" }, health: { true },
                                   limits: .init(maxConnections: 16, headerTimeout: 1, idleTimeout: 2))
        let port = try server.start()
        defer { server.stop() }
        let slow = LoopbackServer.connect(port: port, timeout: 6)
        let idle = LoopbackServer.connect(port: port, timeout: 6)
        defer { close(slow); close(idle) }
        _ = "GET /metrics HTTP/1.1\r\nHost".withCString { write(slow, $0, strlen($0)) }
        let start = Date()
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(read(slow, &buffer, buffer.count) == 0)  // closed by the server, not the 6 s read timeout
        #expect(Date().timeIntervalSince(start) < 4)
        #expect(read(idle, &buffer, buffer.count) == 0)
        #expect(Date().timeIntervalSince(start) < 5)
    }

    /// 2,000 slowloris connections against a real agent held to systemd's 1,024 descriptors:
    /// `/healthz` still answers within a second and the 30 fps loop keeps its rate.
    @Test func healthzAnswersAndTheLoopKeepsItsRateUnder2000SlowConnections() throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < 4096 {
            limit.rlim_cur = min(limit.rlim_max, 8192)
            setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
        try #require(limit.rlim_cur >= 2200, "this test needs 2,200 descriptors (hard limit \(limit.rlim_max))")
        let port = try LoopbackServer.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -n 1024; exec \"$0\" \"$@\"", TestEnvironment.kilnExecutable, "demo",
                             "--source", "synthetic:320x240@30", "--duration", "16s", "--metrics-addr", "127.0.0.1:\(port)",
                             "--json", "--report-interval", "0", "--threads", "1"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var ready = false
        for _ in 0..<300 where !ready {
            ready = Self.exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout: 1).status == 200
            if !ready { usleep(100_000) }
        }
        try #require(ready, "kiln demo never answered /healthz on port \(port)")
        var slow: [Int32] = []
        defer { for fd in slow { close(fd) } }
        for _ in 0..<2000 {
            let fd = LoopbackServer.connect(port: port, timeout: 2)
            if fd < 0 { continue }
            _ = "GET /metrics HTTP/1.1\r\nHost: x\r\n".withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            slow.append(fd)
        }
        #expect(slow.count >= 1900, "only \(slow.count) slow connections were established")
        var worst = 0.0
        for _ in 0..<5 {
            let t0 = Date()
            let probe = Self.exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout: 1)
            let seconds = Date().timeIntervalSince(t0)
            worst = max(worst, seconds)
            #expect(probe.status == 200, "/healthz under load: \(probe.text)")
            usleep(300_000)
        }
        #expect(worst < 1, "slowest /healthz under load: \(worst) s")
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let last = String(decoding: stdout, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        let json = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "no JSON summary: \(last)")
        let fps = json["fps"] as? Double ?? 0
        #expect(fps >= 27, "loop rate under load: \(fps) fps of 30")
        print("2000 slow connections: /healthz worst \(String(format: "%.3f", worst)) s, loop \(String(format: "%.1f", fps)) fps of 30")
    }
}
