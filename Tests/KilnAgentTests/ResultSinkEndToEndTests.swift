import Foundation
import Glibc
import KilnAgent
import KilnTestSupport
import Testing

/// `kiln run --results` to a real Debian mosquitto and a real HTTP server: every result line
/// carries stream, frame, timestamp, model, digest and engine key; a restarted broker is
/// reconnected; a dead receiver never stalls the loop and its drops are counted in the report
/// and in `/metrics`.
@Suite struct ResultSinkEndToEndTests {
    struct Fixture {
        var dir: URL
        var model: URL
    }

    func fixture() throws -> Fixture {
        let dir = try TestEnvironment.temporaryDirectory()
        let model = dir.appendingPathComponent("demo.onnx")
        try Data(DemoModel.bytes()).write(to: model)
        return Fixture(dir: dir, model: model)
    }

    /// Starts `kiln run MODEL ARGS --json` with output to files; the caller waits.
    func startKiln(_ f: Fixture, _ args: [String]) throws -> (Process, URL, URL) {
        let out = f.dir.appendingPathComponent("kiln-\(UUID().uuidString.prefix(6)).out")
        let err = f.dir.appendingPathComponent("kiln-\(UUID().uuidString.prefix(6)).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnvironment.kilnExecutable)
        p.arguments = ["run", f.model.path, "--json", "--report-interval", "0", "--backend", "reference",
                       "--cache-dir", f.dir.appendingPathComponent("cache").path] + args
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        return (p, out, err)
    }

    /// Waits up to `seconds` for the process (killing it after), returns status, the JSON
    /// report (last stdout line) and stderr.
    func finish(_ p: Process, _ out: URL, _ err: URL, within seconds: Double) -> (Int32, [String: Any], String) {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        let stdout = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        let last = stdout.split(separator: "\n").last.map(String.init) ?? ""
        let json = (try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any] ?? [:]
        return (p.terminationStatus, json, stderr)
    }

    /// The JSON payload of a `mosquitto_sub -v` line `TOPIC PAYLOAD`.
    func payload(_ line: String) -> [String: Any] {
        guard let space = line.firstIndex(of: " ") else { return [:] }
        return (try? JSONSerialization.jsonObject(with: Data(line[line.index(after: space)...].utf8))) as? [String: Any] ?? [:]
    }

    @Test func qos1ResultsReachMosquittoWithCredentialsFromTheAuthFileAndCarryTheirProvenance() throws {
        guard let broker = try MosquittoBroker.start(user: "cam", password: "pw-\(getpid())") else { return }
        defer { broker.stop() }
        let f = try fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let auth = f.dir.appendingPathComponent("auth.json")
        let token = Data("cam:pw-\(getpid())".utf8).base64EncodedString()
        try "{\"auths\": {\"127.0.0.1:\(broker.port)\": {\"auth\": \"\(token)\"}}}".write(to: auth, atomically: true, encoding: .utf8)
        let sub = try broker.subscribe("kiln/#", count: 30, user: "cam", password: "pw-\(getpid())")
        let (p, out, err) = try startKiln(f, ["--source", "cam0=synthetic:96x96", "--frames", "30", "--postprocess", "topk:2",
                                              "--auth-file", auth.path, "--results", "mqtt://127.0.0.1:\(broker.port)/kiln?qos=1"])
        let (status, report, stderr) = finish(p, out, err, within: 120)
        #expect(status == 0, "\(stderr)")
        let lines = sub.lines(within: 20)
        #expect(lines.count == 30, "\(lines.count) messages; \(stderr); log: \(broker.log)")
        #expect(lines.allSatisfy { $0.hasPrefix("kiln/cam0 {") })
        let results = lines.map(payload)
        #expect(results.compactMap { $0["frame"] as? Int } == Array(0..<30))
        let digest = (report["model"] as? [String: Any])?["digest"] as? String
        let key = (report["engine"] as? [String: Any])?["key"] as? String
        #expect(digest?.hasPrefix("sha256:") == true && key?.isEmpty == false)
        for r in results {
            #expect(r["stream"] as? String == "cam0")
            #expect(r["model"] as? String == f.model.path)
            #expect(r["digest"] as? String == digest)
            #expect(r["engine_key"] as? String == key)
            #expect(abs((r["timestamp"] as? Double ?? 0) - Date().timeIntervalSince1970) < 300)
            #expect((r["classifications"] as? [Any])?.count == 2)
        }
        let counts = report["results"] as? [String: Any]
        #expect(counts?["sink"] as? String == "mqtt" && counts?["delivered"] as? Int == 30 && counts?["dropped"] as? Int == 0, "\(report)")
    }

    @Test func aBrokerRestartedMidRunIsReconnectedAndPublishingResumes() throws {
        guard let broker = try MosquittoBroker.start() else { return }
        defer { broker.stop() }
        let f = try fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let first = try broker.subscribe("kiln/#", count: 3)
        let (p, out, err) = try startKiln(f, ["--source", "cam0=synthetic:96x96@10", "--duration", "12s", "--postprocess", "topk:1",
                                              "--results", "mqtt://127.0.0.1:\(broker.port)/kiln?qos=1&keepalive=4"])
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        #expect(first.lines(within: 30).count == 3, "log: \(broker.log)")
        broker.halt()
        usleep(2_000_000)
        try broker.restart()
        let after = try broker.subscribe("kiln/#", count: 5)
        let resumed = after.lines(within: 15)
        #expect(resumed.count == 5, "after the restart: \(resumed); log: \(broker.log)")
        let (status, report, stderr) = finish(p, out, err, within: 40)
        #expect(status == 0, "\(stderr)")
        #expect(stderr.contains("reconnecting") || stderr.contains("retrying"), "\(stderr)")
        // The outage cost no frames: the loop ran at the source's rate throughout.
        #expect((report["frames"] as? Int ?? 0) >= 60, "\(report)")
        let counts = report["results"] as? [String: Any]
        #expect((counts?["delivered"] as? Int ?? 0) >= 8, "\(report)")
    }

    @Test func aDeadBrokerNeverStallsTheLoopAndItsDropsAreInTheReportAndInMetrics() throws {
        let f = try fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let dead = try LoopbackServer.freePort()
        let metricsPort = try LoopbackServer.freePort()
        // Unthrottled: far more results than the publisher's queue (1024) holds.
        let (p, out, err) = try startKiln(f, ["--source", "cam0=synthetic:96x96", "--duration", "6s", "--postprocess", "topk:1",
                                              "--metrics-addr", "127.0.0.1:\(metricsPort)",
                                              "--results", "mqtt://127.0.0.1:\(dead)/kiln?qos=1"])
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        // Scrape while it runs: drops are counted as they happen.
        var exposition = ""
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline {
            exposition = Self.get(port: metricsPort, path: "/metrics")
            if exposition.contains("kiln_results_total{sink=\"mqtt\",outcome=\"dropped\"}") { break }
            usleep(200_000)
        }
        #expect(exposition.contains("kiln_results_total{sink=\"mqtt\",outcome=\"dropped\"}"), "\(exposition.suffix(2000))")
        let (status, report, stderr) = finish(p, out, err, within: 60)
        #expect(status == 0, "\(stderr)")
        #expect(stderr.contains("cannot connect to 127.0.0.1:\(dead)"), "\(stderr)")
        let frames = report["frames"] as? Int ?? 0
        #expect(frames > 1100, "the loop stalled: \(report)")
        let counts = report["results"] as? [String: Any]
        #expect(counts?["delivered"] as? Int == 0 && counts?["dropped"] as? Int == frames, "\(report)")
    }

    @Test func resultsArePostedToAWebhookInBatches() throws {
        guard let receiver = try WebhookReceiver.start() else { return }
        defer { receiver.stop() }
        let f = try fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let (p, out, err) = try startKiln(f, ["--source", "door=synthetic:96x96", "--frames", "40", "--postprocess", "topk:1",
                                              "--results", receiver.url("/events")])
        let (status, report, stderr) = finish(p, out, err, within: 120)
        #expect(status == 0, "\(stderr)")
        let requests = receiver.requests
        let results = requests.flatMap(\.results)
        #expect(results.compactMap { $0["frame"] as? Int } == Array(0..<40), "\(requests.map(\.results.count))")
        #expect(results.allSatisfy { $0["stream"] as? String == "door" && ($0["digest"] as? String)?.hasPrefix("sha256:") == true })
        #expect(requests.allSatisfy { $0.path == "/events" && $0.contentType == "application/json" })
        let counts = report["results"] as? [String: Any]
        #expect(counts?["sink"] as? String == "http" && counts?["delivered"] as? Int == 40, "\(report)")
    }

    @Test func webhookBatchLimitsComeFromKilnConf() throws {
        guard let receiver = try WebhookReceiver.start() else { return }
        defer { receiver.stop() }
        let f = try fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let conf = f.dir.appendingPathComponent("kiln.conf")
        try "results = \(receiver.url("/events"))\nwebhook-batch = 7\nwebhook-interval = 2s\nresults-queue = 512\n"
            .write(to: conf, atomically: true, encoding: .utf8)
        let (p, out, err) = try startKiln(f, ["--config", conf.path, "--source", "door=synthetic:96x96", "--frames", "40",
                                              "--postprocess", "topk:1"])
        let (status, report, stderr) = finish(p, out, err, within: 120)
        #expect(status == 0, "\(stderr)")
        let sizes = receiver.requests.map(\.results.count)
        // An unthrottled source fills batches to the configured 7 long before 2 s pass.
        #expect(sizes.reduce(0, +) == 40 && sizes.allSatisfy { $0 <= 7 } && sizes.filter { $0 == 7 }.count >= 4, "\(sizes)")
        let counts = report["results"] as? [String: Any]
        #expect(counts?["delivered"] as? Int == 40, "\(report)")
    }

    @Test func aUnixSocketReaderThatStopsReadingNeverStallsTheLoop() throws {
        let f = try fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let path = f.dir.appendingPathComponent("r.sock").path
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        try #require(bound == 0 && listen(listener, 1) == 0)
        // Unthrottled: far more results than the socket's buffer and the queue (64) hold.
        let (p, out, err) = try startKiln(f, ["--source", "cam0=synthetic:96x96", "--duration", "6s", "--postprocess", "topk:1",
                                              "--results", "unix:\(path)", "--results-queue", "64"])
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        try #require(poll(&pfd, 1, 60_000) == 1, "kiln never connected")
        let conn = accept(listener, nil, nil)
        defer { close(conn) }
        // Read five lines, then stop reading and keep the connection open: a stalled reader.
        var text = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        while text.split(separator: "\n").count < 5 {
            let n = read(conn, &buffer, buffer.count)
            if n <= 0 { break }
            text += String(decoding: buffer[0..<n], as: UTF8.self)
        }
        #expect(text.split(separator: "\n").count >= 5)
        let (status, report, stderr) = finish(p, out, err, within: 60)
        #expect(status == 0, "the loop stalled behind the reader: \(stderr)")
        let frames = report["frames"] as? Int ?? 0
        let counts = report["results"] as? [String: Any]
        let delivered = counts?["delivered"] as? Int ?? -1, dropped = counts?["dropped"] as? Int ?? -1
        #expect(counts?["sink"] as? String == "unix", "\(report)")
        #expect(frames > 300, "the loop stalled: \(report)")
        #expect(delivered >= 5 && dropped > 0 && delivered + dropped == frames, "\(report)")
    }

    /// A plain HTTP/1.1 GET on loopback; the response (head and body), or "" on failure.
    static func get(port: Int, path: String) -> String {
        LoopbackServer.exchange(port: port, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", timeout: 2) ?? ""
    }
}
