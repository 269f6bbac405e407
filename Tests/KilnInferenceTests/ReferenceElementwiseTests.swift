import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnONNX
import Testing

/// The vectorised Add/Sub/Mul/Div paths (equal shapes; N×C×H×W with N×C×1×1, either order).
@Suite("Reference elementwise arithmetic")
struct ReferenceElementwiseTests {
    /// `a OP b` with a graph input on each side, run by the reference backend.
    static func run(_ op: String, _ a: Tensor, _ b: Tensor) throws -> [Float] {
        var g = ONNXGraphBuilder(name: "binary_\(op)")
        let x = g.input("a", .float32, a.shape.map { $0 })
        let y = g.input("b", .float32, b.shape.map { $0 })
        let outShape = a.shape.reduce(1, *) >= b.shape.reduce(1, *) ? a.shape : b.shape
        _ = g.node(op, [x, y], output: "z")
        g.output("z", .float32, outShape.map { $0 })
        let bytes = ONNXWriter.serialize(g.model(opset: 14))
        let backend = ReferenceBackend()
        let options = BuildOptions(threads: 1)
        let runner = try backend.load(try backend.build(model: ModelSource(bytes: bytes, name: op), options: options), options: options)
        return try runner.run(["a": a, "b": b])["z"]!.floatValues()
    }

    static func values(_ n: Int, _ seed: Int) -> [Float] {
        (0..<n).map { Float((($0 + seed) * 7919) % 997) / 97 - 5 + 0.125 }
    }

    @Test("Add, Sub, Mul and Div give the scalar IEEE result for equal shapes and per-plane operands on either side",
          arguments: ["Add", "Sub", "Mul", "Div"])
    func arithmeticMatchesScalar(op: String) throws {
        let scalar: (Float, Float) -> Float =
            switch op {
            case "Add": (+)
            case "Sub": (-)
            case "Mul": (*)
            default: (/)
            }
        let full = [2, 3, 5, 7]  // 35-float planes: vector body and scalar tail
        let planes = [2, 3, 1, 1]
        let big = Tensor(shape: full, floats: Self.values(210, 1))
        let same = Tensor(shape: full, floats: Self.values(210, 2))
        let small = Tensor(shape: planes, floats: Self.values(6, 3).map { $0 == 0 ? 1 : $0 })
        let bigValues = big.floatValues(), sameValues = same.floatValues(), smallValues = small.floatValues()
        #expect(try Self.run(op, big, same) == zip(bigValues, sameValues).map { scalar($0, $1) })
        #expect(try Self.run(op, big, small) == bigValues.indices.map { scalar(bigValues[$0], smallValues[$0 / 35]) })
        #expect(try Self.run(op, small, big) == bigValues.indices.map { scalar(smallValues[$0 / 35], bigValues[$0]) })
    }
}
