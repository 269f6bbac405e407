import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnONNX
import Testing

/// The copying ops (Concat, Slice, Transpose) on tensors large enough that 2 threads split them.
@Suite("Reference copies split across threads")
struct ReferenceCopyTests {
    /// Runs a one-node graph on input `x` (shape `shape`) with the reference backend at `threads`.
    static func run(_ build: (inout ONNXGraphBuilder, String) -> String, shape: [Int], input: [Float], threads: Int) throws -> [Float] {
        var g = ONNXGraphBuilder(name: "copy")
        let x = g.input("x", .float32, shape.map { $0 })
        let z = build(&g, x)
        g.output(z, .float32, [nil, nil, nil, nil])
        let bytes = ONNXWriter.serialize(g.model(opset: 13))
        let backend = ReferenceBackend()
        let options = BuildOptions(threads: threads)
        let runner = try backend.load(try backend.build(model: ModelSource(bytes: bytes, name: "copy"), options: options), options: options)
        return try #require(runner.run(["x": Tensor(shape: shape, floats: input)])[z]).floatValues()
    }

    /// Distinct values, so a float copied from the wrong place shows.
    static func values(_ n: Int) -> [Float] { (0..<n).map { Float($0) } }

    @Test("Concat, strided Slice and Transpose of 100k-float tensors give every element from its source index at 1 and 2 threads",
          arguments: [1, 2])
    func largeCopiesMatchTheirIndexMaps(threads: Int) throws {
        // Concat along channels of the input with itself: channel c of 2·3 from channel c mod 3.
        let shape = [1, 3, 150, 230]
        let x = Self.values(shape.reduce(1, *))
        let plane = 150 * 230
        let joined = try Self.run({ g, x in g.node("Concat", [x, x], attributes: ["axis": .int(1)]) }, shape: shape, input: x, threads: threads)
        #expect(joined == (0..<2 * 3 * plane).map { x[($0 / plane % 3) * plane + $0 % plane] })
        // Every second row and column from row 1, column 0 (YOLOX's Focus), then rows 3 to the end.
        let sliced = try Self.run({ g, x in
            let starts = g.initializer("starts", shape: [2], int64s: [1, 0])
            let ends = g.initializer("ends", shape: [2], int64s: [150, 230])
            let axes = g.initializer("axes", shape: [2], int64s: [2, 3])
            let steps = g.initializer("steps", shape: [2], int64s: [2, 2])
            return g.node("Slice", [x, starts, ends, axes, steps])
        }, shape: shape, input: x, threads: threads)
        #expect(sliced == (0..<3 * 75 * 115).map { i in
            let c = i / (75 * 115), y = i / 115 % 75, q = i % 115
            return x[c * plane + (1 + 2 * y) * 230 + 2 * q]
        })
        // NCHW → NHWC.
        let transposed = try Self.run({ g, x in g.node("Transpose", [x], attributes: ["perm": .ints([0, 2, 3, 1])]) },
                                      shape: shape, input: x, threads: threads)
        #expect(transposed == (0..<3 * plane).map { i in x[(i % 3) * plane + i / 3] })
    }
}
