import Foundation
import KilnAgent

/// Kiln's benchmarks: each prints a side-by-side table measured in one run.
@main
enum KilnBench {
    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "onnx-read": try ONNXReadBenchmark.run(Array(arguments.dropFirst()))
        default: print("usage: kiln-bench BENCHMARK\n  onnx-read [MODEL] [--python PY] [--iterations N]")
        }
    }
}
