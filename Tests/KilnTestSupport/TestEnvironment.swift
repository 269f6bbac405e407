import Foundation

/// Finds the real tools and data the tests run against, as provisioned by `Tests/run.sh`.
///
/// Outside CI a missing dependency skips the test that needs it (with a note on stderr); in CI
/// (`CI=true`) it fails the test, so a broken provisioning step can never pass silently.
public enum TestEnvironment {
    /// An error for a dependency that CI should have provisioned.
    public struct MissingDependency: Error, CustomStringConvertible {
        /// What is missing and how to provide it.
        public var description: String
    }

    /// True when running under CI (`CI=true`).
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The test-data directory `Tests/run.sh` fills (`KILN_TEST_DATA`), default `~/.cache/kiln-test`.
    public static var dataDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["KILN_TEST_DATA"] { return URL(fileURLWithPath: dir) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/kiln-test")
    }

    /// The Python interpreter of the test venv (onnx, onnxruntime, numpy, opencv), if provisioned.
    public static var python: URL { dataDirectory.appendingPathComponent("venv/bin/python3") }

    /// Returns the full path of executable `tool` on PATH (or at an absolute path).
    public static func which(_ tool: String) -> String? {
        if tool.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: tool) ? tool : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] {
            let candidate = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Returns `tool`'s path; `nil` (skip) when absent outside CI; throws when absent in CI.
    public static func tool(_ tool: String) throws -> String? {
        if let path = which(tool) { return path }
        return try missing("tool `\(tool)` is not installed; run `bash Tests/run.sh` to provision it")
    }

    /// Returns the path of a provisioned data file under `dataDirectory`; same rules as `tool`.
    public static func dataFile(_ relative: String) throws -> URL? {
        let url = dataDirectory.appendingPathComponent(relative)
        if FileManager.default.fileExists(atPath: url.path) { return url }
        return try missing("test data `\(url.path)` is missing; run `bash Tests/run.sh` to provision it")
    }

    /// The NVRTC library from the test venv's `nvidia-cuda-nvrtc` wheel (Tests/provision/50-gpu.sh);
    /// same rules as `tool`.
    public static func wheelNVRTC() throws -> String? {
        let lib = dataDirectory.appendingPathComponent("venv/lib")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: lib.path)) ?? []
        for v in versions where v.hasPrefix("python3") {
            let candidate = lib.appendingPathComponent("\(v)/site-packages/nvidia/cu13/lib/libnvrtc.so.13").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return try dataFile("venv/lib/python3.*/site-packages/nvidia/cu13/lib/libnvrtc.so.13").map(\.path)
    }

    /// Returns the test venv's python; same rules as `tool`.
    public static func pythonTool() throws -> String? {
        if FileManager.default.isExecutableFile(atPath: python.path) { return python.path }
        return try missing("test venv `\(python.path)` is missing; run `bash Tests/run.sh` to provision it")
    }

    private static func missing<T>(_ message: String) throws -> T? {
        if isCI { throw MissingDependency(description: message) }
        FileHandle.standardError.write(Data("skipped: \(message)\n".utf8))
        return nil
    }

    /// Polls `condition` every 20 ms for up to `seconds`; returns its last answer.
    public static func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// A fresh temporary directory, removed by the caller.
    public static func temporaryDirectory(_ prefix: String = "kiln-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs `body` with a fresh temporary directory (`prefix-UUID`), removed when `body` returns or
    /// throws; kept for inspection when `KILN_KEEP_TEST_DIRS` is set.
    public static func withScratchDirectory<T>(_ prefix: String = "kiln-test", _ body: (URL) async throws -> T) async throws -> T {
        let dir = try temporaryDirectory(prefix)
        defer { removeScratch(dir) }
        return try await body(dir)
    }

    /// Removes a scratch directory unless `KILN_KEEP_TEST_DIRS` is set.
    public static func removeScratch(_ dir: URL) {
        if ProcessInfo.processInfo.environment["KILN_KEEP_TEST_DIRS"] == nil { try? FileManager.default.removeItem(at: dir) }
    }

    /// Runs a program to completion and returns its exit status and captured stdout/stderr.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           input: Data? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe(), inp = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input == nil ? FileHandle.nullDevice : inp
        try process.run()
        if let input { inp.fileHandleForWriting.write(input); try? inp.fileHandleForWriting.close() }
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        group.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// The `kiln` executable built alongside the tests (`.build/<config>/kiln`).
    public static var kilnExecutable: String {
        if let path = ProcessInfo.processInfo.environment["KILN_EXECUTABLE"] { return path }
        // Test bundles live in .build/<triple>/<config>/; kiln sits beside them.
        let bundle = Bundle.main.bundleURL
        for dir in [bundle, bundle.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("kiln").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug/kiln").path
    }
}
