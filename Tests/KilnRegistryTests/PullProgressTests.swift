import Foundation
import Glibc
import KilnRegistry
import KilnTestSupport
import Synchronization
import Testing

/// `kiln pull` of a 50 MB model from the real registry through a slow link that also cuts the
/// transfer once: the progress a person sees on a terminal, and the plain lines a pipe gets.
@Suite(.serialized) struct PullProgressTests {
    /// 50 MiB and a bit, so no count is round by accident.
    static let modelSize = 52_428_800 + 12_345

    /// A registry holding the big model, and a proxy in front of it that throttles to
    /// `bytesPerSecond` and cuts the model's first GET after `cutAfter` bytes.
    struct Setup {
        var registry: RegistryServer
        var proxy: CuttingProxy
        var dir: URL
        var digest: String
        var reference: String
        func stop() {
            proxy.stop()
            registry.stop()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    static func setUp(bytesPerSecond: Int, cutAfter: Int = 20_000_000) async throws -> Setup? {
        guard let registry = try await RegistryServer.start() else { return nil }
        let dir = try TestEnvironment.temporaryDirectory()
        let model = try Fixtures.modelFile(in: dir, size: modelSize, seed: 18)
        let digest = try Fixtures.sha256(file: model)
        _ = try await Fixtures.publish(model, to: "\(registry.host)/progress/big:v1", client: Fixtures.client(registry), work: dir)
        try FileManager.default.removeItem(atPath: model)
        let proxy = try CuttingProxy(targetPort: registry.port, blobDigest: digest, cutAfter: cutAfter, cuts: 1,
                                     bytesPerSecond: bytesPerSecond)
        return Setup(registry: registry, proxy: proxy, dir: dir, digest: digest, reference: "\(proxy.host)/progress/big:v1")
    }

    static func pullArguments(_ s: Setup, _ extra: [String] = []) -> [String] {
        ["pull", s.reference, "--insecure-registry", s.proxy.host, "--store", s.dir.appendingPathComponent("store").path] + extra
    }

    /// Bytes the model line of a terminal redraw shows: (done MiB, total MiB).
    static func mebibytes(_ line: String) -> (Double, Double)? {
        guard let r = line.range(of: #"([0-9.]+) (B|KiB|MiB) / ([0-9.]+) MiB"#, options: .regularExpression) else { return nil }
        let parts = line[r].split(separator: " ")
        guard let done = Double(parts[0]), let total = Double(parts[3]) else { return nil }
        let scale = parts[1] == "MiB" ? 1.0 : parts[1] == "KiB" ? 1.0 / 1024 : 1.0 / 1_048_576
        return (done * scale, total)
    }

    @Test func terminalShowsOneRedrawnLineRisingToTheBlobSizeAcrossAResumeAndClearsIt() async throws {
        guard let s = try await Self.setUp(bytesPerSecond: 12_000_000) else { return }
        defer { s.stop() }
        let terminal = try PseudoTerminal(columns: 160)
        let out = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.kilnExecutable)
        process.arguments = Self.pullArguments(s)
        process.standardOutput = out
        process.standardError = terminal.follower
        process.standardInput = FileHandle.nullDevice
        var environment = ProcessInfo.processInfo.environment
        environment["TERM"] = "xterm"
        environment.removeValue(forKey: "JOURNAL_STREAM")
        process.environment = environment
        let started = Date()
        try process.run()
        terminal.closeFollower()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(started)
        let screen = terminal.readToEnd()
        #expect(process.terminationStatus == 0, "\(screen)")
        #expect(!String(decoding: stdout, as: UTF8.self).contains("\u{1B}"), "no control sequences on stdout")
        #expect(!String(decoding: stdout, as: UTF8.self).contains("pulling"), "no progress on stdout")

        // Each redraw is `CR ESC[K line`; the model's redraws rise to its size and the last one is cleared.
        let draws = screen.components(separatedBy: "\r\u{1B}[K").filter { $0.hasPrefix("pulling ") && $0.contains(String(s.digest.dropFirst(7).prefix(12))) }
        let values = draws.compactMap(Self.mebibytes)
        #expect(values.count >= 10, "the line was redrawn as bytes arrived: \(draws.count) draws in \(seconds) s")
        #expect(zip(values, values.dropFirst()).allSatisfy { $0.0 <= $1.0 }, "monotonic: \(values.map(\.0))")
        #expect(values.last.map { abs($0.0 - Double(Self.modelSize) / 1_048_576) < 0.05 && $0.0 == $0.1 } == true, "ends at the size: \(draws.last ?? "")")
        #expect(draws.last?.contains("100%") == true)
        #expect(screen.hasSuffix("\r\u{1B}[K") || screen.contains("\r\u{1B}[Kkiln: info: pulled"), "cleared when done: \(screen.suffix(300))")
        // At most 10 redraws a second (every redraw of every step counts).
        let allDraws = screen.components(separatedBy: "\r\u{1B}[K").filter { !$0.isEmpty && !$0.hasPrefix("kiln:") }.count
        #expect(Double(allDraws) <= seconds * 10 + 2, "\(allDraws) redraws in \(seconds) s")
        // The cut was resumed with Range, and the progress survived it.
        let gets = s.proxy.requests.withLock { $0 }.filter { $0.hasPrefix("GET ") && $0.contains(s.digest) }
        #expect(gets.count == 2 && gets.last?.lowercased().contains("range: bytes=") == true, "\(gets)")
    }

    @Test func pipedStderrGetsPlainLinesAtMostEveryTenSecondsAndJSONStaysClean() async throws {
        // ~4 MB/s: the pull takes about 13 s, so the first line (after 2 s) and one 10 s later appear.
        guard let s = try await Self.setUp(bytesPerSecond: 4_000_000) else { return }
        defer { s.stop() }
        let out = Pipe(), err = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.kilnExecutable)
        process.arguments = Self.pullArguments(s, ["--json"])
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let lines = Mutex<[(Double, String)]>([])
        let started = Date()
        try process.run()
        let reader = Thread {
            var pending = Data()
            while true {
                let chunk = err.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    let t = Date().timeIntervalSince(started)
                    lines.withLock { $0.append((t, line)) }
                }
            }
        }
        reader.start()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        while !reader.isFinished { try await Task.sleep(for: .milliseconds(20)) }
        let stderr = lines.withLock { $0 }
        #expect(process.terminationStatus == 0, "\(stderr.map(\.1))")

        // stdout: exactly one JSON object, nothing else.
        let stdoutLines = stdout.split(separator: "\n")
        #expect(stdoutLines.count == 1, "\(stdout)")
        #expect((try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) != nil)
        // stderr: no control characters at all.
        #expect(!stderr.contains { $0.1.unicodeScalars.contains { $0.value < 0x20 && $0 != "\t" } }, "\(stderr.map(\.1))")

        let short = String(s.digest.dropFirst(7).prefix(12))
        let progress = stderr.filter { $0.1.contains("info: pulling ") && $0.1.contains(short) }
        let counts: [Int] = progress.compactMap { line in
            guard let r = line.1.range(of: #"[0-9]+ of [0-9]+ bytes"#, options: .regularExpression) else { return nil }
            let words = line.1[r].split(separator: " ")
            #expect(Int(words[2]) == Self.modelSize)
            return Int(words[0])
        }
        #expect(progress.count >= 3, "a first line, one 10 s later, a closing line: \(stderr.map(\.1))")
        #expect(counts.count == progress.count)
        #expect(zip(counts, counts.dropFirst()).allSatisfy { $0 <= $1 }, "monotonic across the resume: \(counts)")
        #expect(counts.last == Self.modelSize, "ends at exactly the blob size")
        #expect(progress.last?.1.contains("succeeded") == true)
        // Periodic lines are at least 10 s apart (the closing line is an event, not a tick).
        let ticks = progress.dropLast().map(\.0)
        #expect(zip(ticks, ticks.dropFirst()).allSatisfy { $1 - $0 >= 9.5 }, "\(ticks)")
        #expect(stderr.contains { $0.1.contains("resuming") }, "the cut was resumed")
    }

    /// The value of an unlabelled sample in a Prometheus exposition.
    static func sample(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }

    @Test func metricsStatusAndSystemdStatusFollowTheAgentsPullWhileItRuns() async throws {
        guard let s = try await Self.setUp(bytesPerSecond: 10_000_000) else { return }
        defer { s.stop() }
        let notify = try NotifySocket(s.dir.appendingPathComponent("notify").path)
        let port = try LoopbackServer.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.kilnExecutable)
        // The "model" is random bytes: the agent pulls it, then refuses to build it (exit 3).
        process.arguments = ["run", s.reference, "--insecure-registry", s.proxy.host, "--store", s.dir.appendingPathComponent("store").path,
                             "--cache-dir", s.dir.appendingPathComponent("cache").path, "--backend", "reference",
                             "--source", "synthetic:64x64", "--metrics-addr", "127.0.0.1:\(port)", "--duration", "1s"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.name
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var held: [Double] = [], expected: [Double] = [], statusDone: [Int] = [], steps = Set<String>()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline {
            if let text = try? String(contentsOf: URL(string: "http://127.0.0.1:\(port)/metrics")!, encoding: .utf8),
               let bytes = Self.sample("kiln_pull_bytes_total", in: text), let want = Self.sample("kiln_pull_bytes_expected", in: text) {
                held.append(bytes)
                expected.append(want)
                if text.contains(#"kiln_rollout_step{step="pull"} 1"#) { steps.insert("pull") }
            }
            if let data = try? Data(contentsOf: URL(string: "http://127.0.0.1:\(port)/status")!),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let progress = object["progress"] as? [[String: Any]],
               let pull = progress.first(where: { $0["step"] as? String == "pull" && ($0["total"] as? Int) == Self.modelSize }) {
                statusDone.append(pull["done"] as? Int ?? -1)
            }
            try await Task.sleep(for: .milliseconds(150))
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 3, "random bytes are not a model: the agent refuses them after the pull")
        // Mid-pull: the metrics rose monotonically (across the cut and its resume) to exactly what was expected.
        let midway = held.filter { $0 > 0 && $0 < Double(Self.modelSize) }
        #expect(midway.count >= 5, "scraped while the bytes arrived: \(held)")
        #expect(zip(held, held.dropFirst()).allSatisfy { $0 <= $1 }, "monotonic: \(held)")
        let last = try #require(held.last), want = try #require(expected.last)
        #expect(want >= Double(Self.modelSize) && want < Double(Self.modelSize) + 4096, "the model blob and its small config: \(want)")
        #expect(last == want, "ends at exactly the expected bytes")
        #expect(steps.contains("pull"))
        // /status showed the model's pull running, rising.
        #expect(statusDone.count >= 5 && zip(statusDone, statusDone.dropFirst()).allSatisfy { $0 <= $1 }, "\(statusDone)")
        // systemd heard the step while nothing served yet.
        var statuses: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(notify.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n <= 0 { break }
            statuses.append(String(decoding: buffer[0..<n], as: UTF8.self))
        }
        #expect(statuses.contains { $0.hasPrefix("STATUS=pulling: ") && $0.contains("%") }, "\(statuses)")
        #expect(!statuses.contains { $0.contains("READY=1") })
    }

    @Test func quietSilencesProgressButNotTheResult() async throws {
        guard let s = try await Self.setUp(bytesPerSecond: 16_000_000, cutAfter: 1_000_000) else { return }
        defer { s.stop() }
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, Self.pullArguments(s, ["--quiet"]))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stderr.contains("pulling "), "\(r.stderr)")
        #expect(r.stdout.contains("(\(Self.modelSize) bytes)"))
    }
}

/// A pseudo-terminal pair: the child's stderr is the follower, the test reads the leader.
// unchecked: the reader thread touches only `leader` (immutable) and `captured` (a Mutex); FileHandle and Thread are used from the test alone.
final class PseudoTerminal: @unchecked Sendable {
    let leader: Int32
    let follower: FileHandle
    private final class Capture: Sendable {
        let bytes = Mutex(Data())
    }
    private let captured = Capture()
    private let reader: Thread

    init(columns: Int) throws {
        // posix_openpt(3) by hand (Glibc's module hides it): /dev/ptmx, unlock, ask the number.
        leader = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0, number: UInt32 = 0
        let TIOCSPTLCK: UInt = 0x4004_5431, TIOCGPTN: UInt = 0x8004_5430
        guard leader >= 0, ioctl(leader, TIOCSPTLCK, &unlock) == 0, ioctl(leader, TIOCGPTN, &number) == 0 else {
            throw POSIXError(.ENOTTY)
        }
        let name = "/dev/pts/\(number)"
        var size = winsize(ws_row: 40, ws_col: UInt16(columns), ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(leader, UInt(TIOCSWINSZ), &size)
        let fd = open(name, O_RDWR | O_NOCTTY)
        guard fd >= 0 else { throw POSIXError(.ENOTTY) }
        follower = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let leader = self.leader, captured = self.captured
        reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(leader, &buffer, buffer.count)
                if n <= 0 { break }  // EIO once every follower is closed
                captured.bytes.withLock { $0.append(contentsOf: buffer[0..<n]) }
            }
        }
        reader.start()
    }

    /// Closes the test's copy of the follower (after the child started), so the leader ends with the child.
    func closeFollower() { try? follower.close() }

    /// Everything the child wrote, once it closed the terminal.
    func readToEnd() -> String {
        while !reader.isFinished { usleep(10_000) }
        close(leader)
        return String(decoding: captured.bytes.withLock { $0 }, as: UTF8.self)
    }
}
