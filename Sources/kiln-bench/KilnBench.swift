import Foundation
import KilnAgent
import KilnCore

/// One benchmark: prints a side-by-side table measured in one run.
protocol Benchmark: Sendable {
    /// The name on the command line (`kiln-bench NAME`).
    static var name: String { get }
    /// One line for the list.
    static var summary: String { get }
    /// Runs the benchmark with its own arguments.
    static func run(_ arguments: [String]) async throws
}

/// Kiln's benchmarks: `kiln-bench NAME [ARGS]`, each printing a side-by-side table.
@main
enum KilnBench {
    /// Every benchmark, in listing order.
    static let benchmarks: [any Benchmark.Type] = [
        PreprocessBenchmark.self,
        LoopBenchmark.self,
        MemoryBenchmark.self,
        GPUPreprocessBenchmark.self,
        ReferenceBenchmark.self,
        EngineCacheBenchmark.self,
        ONNXReadBenchmark.self,
        MetricsBenchmark.self,
        LiveBenchmark.self,
    ]

    static func main() async {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let name = args.first, let bench = benchmarks.first(where: { $0.name == name }) else {
            print("usage: kiln-bench BENCHMARK [ARGS]\n\nbenchmarks:")
            for b in benchmarks { print("  \(b.name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(b.summary)") }
            exit(args.isEmpty ? 0 : 2)
        }
        do {
            try await bench.run(Array(args.dropFirst()))
            // Like kiln: leave without running static destructors under threads still winding down.
            fflush(nil)
            _exit(0)
        } catch {
            FileHandle.standardError.write(Data("kiln-bench \(name): \(error)\n".utf8))
            exit(1)
        }
    }
}

/// A benchmark argument that cannot be used, named with the form it should have.
struct BenchmarkUsageError: Error, CustomStringConvertible {
    /// What was given and what was expected.
    let message: String
    var description: String { message }
}

/// Shared helpers for benchmarks: option parsing, timing, table printing, running Python.
enum BenchSupport {
    /// The value after `--name` in `args`, if any.
    static func option(_ args: [String], _ name: String) -> String? {
        guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
        return args[i + 1]
    }

    /// The arguments that are neither one of `options` nor the value after it (a benchmark's MODEL).
    static func positional(_ args: [String], options: Set<String>) -> [String] {
        var out: [String] = []
        var i = 0
        while i < args.count {
            if options.contains(args[i]) { i += 2; continue }
            out.append(args[i])
            i += 1
        }
        return out
    }

    /// The test-data cache `Tests/run.sh` provisions (models, videos, the Python venv):
    /// `$KILN_TEST_DATA`, else `~/.cache/kiln-test`.
    static var testData: String {
        ProcessInfo.processInfo.environment["KILN_TEST_DATA"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/kiln-test").path
    }

    /// The Python interpreter with the comparison libraries: `--python`, else the test venv.
    static func python(_ args: [String]) -> String {
        option(args, "--python") ?? testData + "/venv/bin/python3"
    }

    /// Median seconds per call of `body` over `iterations` runs after `warmup` runs.
    static func time(iterations: Int, warmup: Int = 5, _ body: () throws -> Void) rethrows -> Double {
        for _ in 0..<warmup { try body() }
        var samples: [Double] = []
        samples.reserveCapacity(iterations)
        for _ in 0..<iterations {
            let t = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t) * 1e-9)
        }
        samples.sort()
        return samples[samples.count / 2]
    }

    /// Runs a Python script with arguments; returns stdout, throws with stderr on failure.
    static func runPython(_ python: String, script: String, arguments: [String] = []) throws -> String {
        let (output, errors, exit) = try Subprocess.capture(python, ["-c", script] + arguments)
        guard exit == .exited(0) else {
            throw RuntimeError("python failed (\(python), \(exit)): " + String(decoding: errors, as: UTF8.self))
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The `kiln` binary a benchmark runs: `--kiln PATH`, else the one beside `kiln-bench`.
    static func kilnBinary(_ args: [String], benchmark: String) throws -> String {
        let kiln = option(args, "--kiln")
            ?? URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
                .deletingLastPathComponent().appendingPathComponent("kiln").path
        guard FileManager.default.isExecutableFile(atPath: kiln) else {
            throw RuntimeError("\(benchmark): no kiln binary at \(kiln); build it (swift build --product kiln) or pass --kiln PATH")
        }
        return kiln
    }

    /// Runs `kiln ARGUMENTS` (which must include `--json`) to the end and returns its run report
    /// (the last JSON line of its output); throws with the output's tail when it fails.
    static func kilnReport(kiln: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
                           benchmark: String) throws -> RunReport {
        try kilnRun(kiln: kiln, arguments, environment: environment, benchmark: benchmark).report
    }

    /// Runs `kiln ARGUMENTS` to the end: its run report and the child's peak resident bytes.
    static func kilnRun(kiln: String, _ arguments: [String], environment: [String: String],
                        benchmark: String) throws -> (report: RunReport, peakResidentBytes: Int?) {
        let child = try Subprocess(kiln, arguments, environment: environment, processGroup: .parent, errors: .merged)
        let output = child.standardOutput
        defer { output.closeIgnoringErrors() }
        let bytes = (try? output.readToEnd()) ?? []
        let exit = child.wait()
        let text = String(decoding: bytes, as: UTF8.self)
        // The report is the last JSON line; log lines (stderr, merged) may surround it.
        let report = text.split(separator: "\n").reversed().lazy
            .compactMap { try? JSONDecoder().decode(RunReport.self, from: Data($0.utf8)) }.first
        guard exit == .exited(0), let report else {
            throw RuntimeError("\(benchmark): kiln \(arguments.joined(separator: " ")) failed (\(exit)); its output: \(text.suffix(400))")
        }
        return (report, child.peakResidentBytes)
    }

    /// Prints rows as an aligned table with a header.
    static func table(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = (0..<header.count).map { c in all.map { $0[c].count }.max() ?? 0 }
        func line(_ r: [String]) -> String {
            r.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        print(line(header))
        print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        for r in rows { print(line(r)) }
    }
}

/// A Python process that answers one line per request line (a benchmark's other engine, kept
/// warm between timing rounds). It prints `ready` once set up.
final class PythonWorker {
    private let child: Subprocess
    private let input: FileDescriptor
    private let python: String
    private var buffer: [UInt8] = []
    private var inputOpen = true

    /// Starts `python -c script arguments…` and waits for its `ready` line.
    init(python: String, script: String, arguments: [String]) throws {
        self.python = python
        child = try Subprocess(python, ["-c", script] + arguments, processGroup: .parent, input: .pipe, errors: .inherited)
        input = child.standardInput!
        let first = try readLine()
        guard first == "ready" else {
            throw RuntimeError("python worker (\(python)) did not start: \(first)")
        }
    }

    deinit {
        closeInput()
        child.standardOutput.closeIgnoringErrors()
        child.terminate(SIGKILL)
        child.wait()
    }

    /// Sends one line and returns the worker's one-line answer.
    func request(_ line: String) throws -> String {
        try input.writeAll(Array((line + "\n").utf8), path: python)
        return try readLine()
    }

    /// Ends the worker (closing its input ends its loop) and waits for it.
    func close() {
        closeInput()
        child.wait()
    }

    private func closeInput() {
        if inputOpen { input.closeIgnoringErrors() }
        inputOpen = false
    }

    private func readLine() throws -> String {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            let n = try chunk.withUnsafeMutableBytes { raw in
                Result { () throws(SystemError) in try child.standardOutput.read(into: raw, path: python) }
            }.get()
            if n == 0 {
                closeInput()
                throw RuntimeError("python worker (\(python)) exited (\(child.wait())) before answering")
            }
            buffer += chunk[0..<n]
        }
    }
}
