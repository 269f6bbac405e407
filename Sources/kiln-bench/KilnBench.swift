import Foundation
import KilnAgent

/// Kiln's benchmarks: each prints a side-by-side table measured in one run.
@main
enum KilnBench {
    static func main() async throws {
        print("usage: kiln-bench BENCHMARK")
    }
}
