import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnONNX
import Testing

/// One-row Gemm (a classifier head: 1 × K input, K × N weights), whose output columns are split
/// across threads.
@Suite("Reference one-row Gemm")
struct ReferenceGemmTests {
    /// `x · W` (or `x · Wᵀ` with `transB`), W an initializer, run on `threads` threads.
    static func run(_ x: [Float], weights: [Float], k: Int, n: Int, transB: Bool, threads: Int) throws -> [Float] {
        var g = ONNXGraphBuilder(name: "gemm_row")
        let input = g.input("x", .float32, [1, k])
        let w = g.initializer("w", shape: transB ? [n, k] : [k, n], floats: weights)
        g.node("Gemm", [input, w], output: "y", attributes: ["transB": .int(transB ? 1 : 0)])
        g.output("y", .float32, [1, n])
        let bytes = ONNXWriter.serialize(g.model(opset: 13))
        let backend = ReferenceBackend()
        let options = BuildOptions(threads: threads)
        let runner = try backend.load(try backend.build(model: ModelSource(bytes: bytes, name: "gemm_row"), options: options), options: options)
        return try runner.run(["x": Tensor(shape: [1, k], floats: x)])["y"]!.floatValues()
    }

    @Test("a 1 × 300 by 300 × 500 Gemm gives the same columns on 1 and 2 threads, and the double-precision product",
          arguments: [false, true])
    func oneRowGemmSplitsColumnsExactly(transB: Bool) throws {
        let k = 300, n = 500  // k·n ≥ 65536: two threads split the 500 columns
        let x = (0..<k).map { Float(($0 * 37) % 101) / 50 - 1 }
        let w = (0..<(k * n)).map { Float(($0 * 7919) % 997) / 500 - 1 }
        let one = try Self.run(x, weights: w, k: k, n: n, transB: transB, threads: 1)
        let two = try Self.run(x, weights: w, k: k, n: n, transB: transB, threads: 2)
        #expect(one == two)
        var worst = 0.0
        for j in 0..<n {
            var exact = 0.0
            for kk in 0..<k { exact += Double(x[kk]) * Double(transB ? w[j * k + kk] : w[kk * n + j]) }
            worst = max(worst, abs(Double(two[j]) - exact) / max(1, abs(exact)))
        }
        #expect(worst < 1e-5, "worst relative error \(worst)")
    }
}
