import Foundation
import Glibc

/// A real Debian `mosquitto` broker on 127.0.0.1 with a free port and its own configuration
/// (never the system service's), started for one test and killed at the end.
///
/// Everything waits with a deadline: the broker's output goes to a log file (never a pipe a
/// test might not drain), readiness is a TCP probe, and subscribers run `mosquitto_sub` with
/// `-C COUNT -W SECONDS` so a missing message ends the subscriber instead of the test run.
// unchecked: `process` changes only in the owning test (halt/restart), never concurrently.
public final class MosquittoBroker: @unchecked Sendable {
    /// The temporary directory holding the configuration and the log.
    public let directory: URL
    /// The port it listens on.
    public let port: Int
    /// The broker's log (connections, subscriptions).
    public var logFile: URL { directory.appendingPathComponent("mosquitto.log") }
    private var process: Process?
    private let executable: String

    /// Starts a broker; nil (skip) when `mosquitto` is not installed outside CI.
    /// With `user`/`password`, anonymous clients are refused.
    public static func start(user: String? = nil, password: String? = nil) throws -> MosquittoBroker? {
        guard let executable = try TestEnvironment.tool("mosquitto"), try TestEnvironment.tool("mosquitto_sub") != nil else { return nil }
        let broker = try MosquittoBroker(executable: executable, user: user, password: password)
        try broker.launch()
        return broker
    }

    private init(executable: String, user: String?, password: String?) throws {
        self.executable = executable
        directory = try TestEnvironment.temporaryDirectory("kiln-mosquitto")
        port = try LoopbackServer.freePort()
        var auth = "allow_anonymous true\n"
        if let user, let password {
            let file = directory.appendingPathComponent("passwd").path
            try "\(user):\(password)\n".write(toFile: file, atomically: true, encoding: .utf8)
            let r = try TestEnvironment.run(TestEnvironment.which("mosquitto_passwd") ?? "/usr/bin/mosquitto_passwd", ["-U", file])
            guard r.status == 0 else { throw TestEnvironment.SetupError("mosquitto_passwd -U failed: \(r.stderr)") }
            auth = "allow_anonymous false\npassword_file \(file)\n"
        }
        // `user root`: as root, mosquitto would otherwise switch to the `mosquitto` user, which
        // cannot write the log in this directory.
        let config = """
            listener \(port) 127.0.0.1
            \(auth)persistence false
            user root
            log_dest file \(logFile.path)
            log_type error
            log_type warning
            log_type notice
            log_type information
            log_type subscribe
            """
        try config.write(to: directory.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
    }

    private func launch() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["-c", directory.appendingPathComponent("mosquitto.conf").path]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if Self.accepts(port: port) { return }
            guard p.isRunning else { break }
            usleep(20_000)
        }
        let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        halt()
        throw TestEnvironment.SetupError("mosquitto did not listen on 127.0.0.1:\(port) within 10 s; log: \(log)")
    }

    /// Kills the broker (an outage; SIGKILL, so no clean goodbye to clients).
    public func halt() {
        guard let p = process else { return }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        process = nil
    }

    /// Starts the broker again after `halt()`, on the same port.
    public func restart() throws { try launch() }

    /// Stops the broker and removes its directory.
    public func stop() {
        halt()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The broker's log so far.
    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Starts `mosquitto_sub` on `topic` at QoS 1, exiting after `count` messages or `seconds`
    /// without one; returns once the broker has logged the subscription (or throws after 10 s).
    public func subscribe(_ topic: String, count: Int, seconds: Int = 20, user: String? = nil, password: String? = nil) throws -> Subscription {
        let marker = "kiln-sub-\(UUID().uuidString.prefix(8))"
        let sub = try Subscription(executable: TestEnvironment.which("mosquitto_sub")!, arguments: [
            "-h", "127.0.0.1", "-p", "\(port)", "-i", marker, "-q", "1", "-t", topic, "-v", "-C", "\(count)", "-W", "\(seconds)",
        ] + (user.map { ["-u", $0, "-P", password ?? ""] } ?? []), directory: directory)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if log.contains("\(marker) 1 \(topic)") { return sub }
            if !sub.isRunning { break }
            usleep(20_000)
        }
        sub.terminate()
        throw TestEnvironment.SetupError("mosquitto_sub did not subscribe to \(topic) within 10 s: \(sub.output); log: \(log)")
    }

    /// A running `mosquitto_sub`; its output (`TOPIC PAYLOAD` lines) goes to a file.
    // unchecked: `Process` is not Sendable; only the owning test waits on and kills it.
    public final class Subscription: @unchecked Sendable {
        private let process = Process()
        private let outputFile: URL

        init(executable: String, arguments: [String], directory: URL) throws {
            outputFile = directory.appendingPathComponent("sub-\(UUID().uuidString).out")
            _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
            let handle = try FileHandle(forWritingTo: outputFile)
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            try handle.close()
        }

        /// Whether it still runs.
        public var isRunning: Bool { process.isRunning }

        /// What it printed so far.
        public var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }

        /// Waits up to `seconds` for it to exit (it got its messages or timed out), then kills it;
        /// returns the `TOPIC PAYLOAD` lines it printed.
        public func lines(within seconds: Double) -> [String] {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            terminate()
            return output.split(separator: "\n").map(String.init)
        }

        /// Kills it (if running) and reaps it.
        public func terminate() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    private static func accepts(port: Int) -> Bool {
        let fd = LoopbackServer.connect(port: port, timeout: 1)
        if fd >= 0 { close(fd) }
        return fd >= 0
    }
}
