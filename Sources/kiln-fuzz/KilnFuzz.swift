import Foundation
import KilnONNX

#if canImport(Glibc)
import Glibc
#endif

/// The execution in progress, read by the crash handler (single fuzzing thread).
nonisolated(unsafe) var currentExecution = 0

/// `kiln-fuzz`: a deterministic mutation fuzzer for Kiln's ONNX model and TensorProto readers.
///
/// Usage: `kiln-fuzz --corpus DIR [--corpus DIR…] [--iterations N] [--seed S] [--replay I --out FILE]`.
/// Seeds are every `.onnx` and `.pb` file under the corpus directories (files over 1 MiB skipped).
/// A trap prints the execution number; `--replay I --out FILE` writes that input for debugging.
@main
enum KilnFuzz {
    static func main() throws {
        var args = Array(CommandLine.arguments.dropFirst())
        func option(_ name: String) -> [String] {
            var values: [String] = []
            while let i = args.firstIndex(of: name), i + 1 < args.count {
                values.append(args[i + 1])
                args.removeSubrange(i...(i + 1))
            }
            return values
        }
        let corpus = option("--corpus")
        let iterations = option("--iterations").last.flatMap { Int($0.replacingOccurrences(of: "_", with: "")) } ?? 1_000_000
        let seed = option("--seed").last.flatMap { UInt64($0) } ?? 0x4B494C4E
        let replay = option("--replay").last.flatMap { Int($0) }
        let out = option("--out").last
        guard !corpus.isEmpty, args.isEmpty else {
            FileHandle.standardError.write(Data("usage: kiln-fuzz --corpus DIR [--iterations N] [--seed S] [--replay I --out FILE]\n".utf8))
            exit(2)
        }
        let seeds = try loadSeeds(corpus)
        var fuzzer = ONNXMutationFuzzer(seeds: seeds, seed: seed)
        if let replay {
            for _ in 0..<replay { _ = fuzzer.nextInput() }
            let input = fuzzer.nextInput()
            if let out { try Data(input).write(to: URL(fileURLWithPath: out)) }
            var report = ONNXMutationFuzzer.Report()
            ONNXMutationFuzzer.execute(input, &report)
            print("replayed execution \(replay) (\(input.count) bytes): round-trip failures \(report.roundTripFailures.count)")
            return
        }
        installCrashHandler()
        print("kiln-fuzz: \(seeds.count) seeds (\(seeds.reduce(0) { $0 + $1.count }) bytes), \(iterations) executions, seed \(seed)")
        let start = Date()
        var report = ONNXMutationFuzzer.Report()
        for i in 0..<iterations {
            currentExecution = i
            ONNXMutationFuzzer.execute(fuzzer.nextInput(), &report)
            report.executions += 1
            if (i + 1) % 250_000 == 0 {
                let rate = Double(i + 1) / Date().timeIntervalSince(start)
                print("  \(i + 1) executions, \(Int(rate)) exec/s, accepted \(report.acceptedModels) models / \(report.acceptedTensors) tensors")
                fflush(nil)  // all streams: progress shows up when stdout is a file
            }
        }
        let seconds = Date().timeIntervalSince(start)
        print("""
            executions: \(report.executions)
            accepted: \(report.acceptedModels) models, \(report.acceptedTensors) tensors
            crashes: 0
            round-trip failures: \(report.roundTripFailures.count)
            time: \(String(format: "%.1f", seconds)) s (\(Int(Double(report.executions) / seconds)) exec/s)
            """)
        for failure in report.roundTripFailures.prefix(5) { print("  failing input (hex): \(failure)") }
        exit(report.roundTripFailures.isEmpty ? 0 : 1)
    }

    static func loadSeeds(_ directories: [String]) throws -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        for dir in directories {
            guard let walker = FileManager.default.enumerator(atPath: dir) else { continue }
            var files: [String] = []
            while let path = walker.nextObject() as? String {
                if path.hasSuffix(".onnx") || path.hasSuffix(".pb") { files.append(path) }
            }
            for path in files.sorted() {
                let data = try Data(contentsOf: URL(fileURLWithPath: dir).appendingPathComponent(path))
                if data.count <= 1 << 20 { seeds.append([UInt8](data)) }
            }
        }
        return seeds
    }

    static func installCrashHandler() {
        for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
            signal(sig) { sig in
                var text = Array("\nkiln-fuzz: CRASH (signal \(sig)) at execution \(currentExecution); replay with --replay \(currentExecution) --out crash.bin\n".utf8)
                _ = write(2, &text, text.count)
                _exit(70)
            }
        }
    }
}
