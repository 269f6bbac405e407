import Foundation
import Glibc
import KilnAgent
import KilnCore

/// Peak resident memory of the agent as a user runs it: `kiln demo` (synthetic 1280×720, the
/// embedded model on the reference backend) and `kiln run` on a synthetic 1920×1080@30 source,
/// pipelined and serial, each in its own process; the peak is the child's `ru_maxrss` from
/// `wait4`. Targets: demo ≤ 50 MB, 1080p run ≤ 80 MB. Uses the `kiln` binary beside
/// `kiln-bench` (or `--kiln PATH`) and a fresh cache directory; a warm-up demo builds the engine
/// first, so every measured run is a cache hit.
enum MemoryBenchmark: Benchmark {
    static let name = "memory"
    static let summary = "peak RSS of kiln demo and kiln run (1080p@30 synthetic), pipelined and serial, vs targets"

    /// One child run: its peak RSS in MiB and what it reported.
    struct Outcome {
        var peakMiB: Double
        var frames: Int
        var fps: Double
    }

    /// Runs `kiln` with `arguments` (plus `--json`) and returns its peak RSS and report; throws when it fails.
    static func measure(kiln: String, _ arguments: [String], environment: [String: String]) throws -> Outcome {
        let (report, peak) = try BenchSupport.kilnRun(kiln: kiln, arguments + ["--json"], environment: environment, benchmark: name)
        guard let peak else { throw RuntimeError("memory: kiln \(arguments.joined(separator: " ")): no peak RSS from wait4") }
        return Outcome(peakMiB: Double(peak) / Double(1 << 20), frames: report.frames, fps: report.fps)
    }

    static func run(_ args: [String]) async throws {
        let seconds = BenchSupport.option(args, "--seconds") ?? "8s"
        let kiln = try BenchSupport.kilnBinary(args, benchmark: name)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-bench-memory-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let model = scratch.appendingPathComponent("demo.onnx")
        try Data(DemoModel.bytes()).write(to: model)
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CACHE_HOME"] = scratch.appendingPathComponent("cache").path
        environment["KILN_CACHE_DIR"] = scratch.appendingPathComponent("cache/kiln").path
        let common = ["--duration", seconds, "--report-interval", "0", "--backend", "reference"]
        _ = try measure(kiln: kiln, ["demo", "--frames", "10", "--report-interval", "0"], environment: environment)  // builds the engine
        let cases: [(String, [String], Double)] = [
            ("kiln demo (1280x720 synthetic)", ["demo"] + common, 50),
            ("kiln demo --serial", ["demo", "--serial"] + common, 50),
            ("kiln run, synthetic:1920x1080@30", ["run", model.path, "--source", "synthetic:1920x1080@30"] + common, 80),
            ("kiln run, synthetic:1920x1080@30 --serial", ["run", model.path, "--source", "synthetic:1920x1080@30", "--serial"] + common, 80),
        ]
        var rows: [[String]] = []
        for (name, arguments, target) in cases {
            let o = try measure(kiln: kiln, arguments, environment: environment)
            rows.append([name, String(format: "%.1f", o.peakMiB), String(format: "%.0f", target), o.peakMiB <= target ? "yes" : "NO",
                         "\(o.frames)", String(format: "%.1f", o.fps)])
        }
        print("Peak RSS (ru_maxrss of each kiln process), \(seconds) each, reference backend, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        BenchSupport.table(["run", "peak RSS MiB", "target MiB", "within", "frames", "frames/s"], rows)
    }
}
