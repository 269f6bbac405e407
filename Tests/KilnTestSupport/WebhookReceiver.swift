import Foundation
import Glibc

/// A real HTTP server (Python's `http.server`, `Tests/scripts/webhook_receiver.py`) on
/// 127.0.0.1 that records every POSTed batch of results, started for one test and killed at
/// the end. It can answer 503 to the first requests, answer slowly, or refuse every request.
// unchecked: `Process` is not Sendable; only the test that owns the receiver starts and stops it.
public final class WebhookReceiver: @unchecked Sendable {
    /// One POST as the receiver saw it.
    public struct Request {
        /// The request path (with query).
        public var path: String
        /// The Content-Type header.
        public var contentType: String?
        /// The result objects of the JSON array body.
        public var results: [[String: Any]]
        /// The status it answered.
        public var status: Int
    }

    /// The port it listens on.
    public let port: Int
    private let process: Process
    private let directory: URL
    private var recordFile: URL { directory.appendingPathComponent("requests.jsonl") }

    /// Starts a receiver; nil (skip) when python3 is missing outside CI. `failFirst` requests
    /// answer 503, each answer waits `delay` seconds, and `status` is the answer after that.
    public static func start(failFirst: Int = 0, delay: Double = 0, status: Int = 200) throws -> WebhookReceiver? {
        guard let python = try TestEnvironment.tool("python3") else { return nil }
        return try WebhookReceiver(python: python, failFirst: failFirst, delay: delay, status: status)
    }

    private init(python: String, failFirst: Int, delay: Double, status: Int) throws {
        directory = try TestEnvironment.temporaryDirectory("kiln-webhook")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/webhook_receiver.py").path
        let portFile = directory.appendingPathComponent("port")
        _ = FileManager.default.createFile(atPath: portFile.path, contents: nil)
        let out = try FileHandle(forWritingTo: portFile)
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, directory.appendingPathComponent("requests.jsonl").path, "--fail-first", "\(failFirst)", "--delay", "\(delay)", "--status", "\(status)"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = out
        try process.run()
        try out.close()
        let deadline = Date().addingTimeInterval(10)
        var port: Int?
        while Date() < deadline, process.isRunning {
            let text = (try? String(contentsOf: portFile, encoding: .utf8)) ?? ""
            if text.hasSuffix("\n"), let p = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) { port = p; break }
            usleep(20_000)
        }
        guard let port else {
            let text = (try? String(contentsOf: portFile, encoding: .utf8)) ?? ""
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            throw TestEnvironment.SetupError("webhook_receiver.py did not start within 10 s: \(text)")
        }
        self.port = port
    }

    /// `http://127.0.0.1:PORT` + `path`.
    public func url(_ path: String = "/kiln") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Every request recorded so far, in arrival order.
    public var requests: [Request] {
        let text = (try? String(contentsOf: recordFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            let results = o["results"] as? [[String: Any]] ?? []
            return Request(path: o["path"] as? String ?? "", contentType: o["content_type"] as? String,
                           results: results, status: o["status"] as? Int ?? 0)
        }
    }

    /// Kills the server and removes its directory.
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }
}
