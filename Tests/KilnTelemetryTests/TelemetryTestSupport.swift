import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc
import KilnTestSupport

/// GET (or another method) over real HTTP; returns status and body.
func http(_ url: String, method: String = "GET", body: String? = nil) async throws -> (status: Int, body: String, headers: [String: String]) {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = method
    request.timeoutInterval = 10
    if let body { request.httpBody = Data(body.utf8) }
    let (data, response) = try await URLSession.shared.data(for: request)
    let r = response as! HTTPURLResponse
    var headers: [String: String] = [:]
    for (k, v) in r.allHeaderFields { headers[String(describing: k).lowercased()] = String(describing: v) }
    return (r.statusCode, String(decoding: data, as: UTF8.self), headers)
}

/// Polls `check` every 200 ms until it returns a value or `timeout` seconds pass.
func eventually<T>(timeout: Double = 20, _ check: () async throws -> T?) async throws -> T? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let v = try? await check() { return v }
        try await Task.sleep(for: .milliseconds(200))
    }
    return nil
}

/// A real server process (Prometheus, Pushgateway) killed when the test ends.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let log: URL

    init(_ executable: String, _ arguments: [String], log: URL) throws {
        self.log = log
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// The directory of this test target's sources (fixtures live beside them).
let testSourceDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
