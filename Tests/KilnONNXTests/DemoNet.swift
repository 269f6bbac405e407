import KilnCore
import KilnONNX

/// A small conv net built with `ONNXGraphBuilder` (Conv/Relu/MaxPool/GlobalAveragePool/Gemm/Softmax),
/// with deterministic weights: the kind of model Kiln writes for its own demo.
enum DemoNet {
    static func weights(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 4000
        }
    }

    static func model(opset: Int64 = 17) -> ONNXModel {
        var b = ONNXGraphBuilder(name: "kiln_demo")
        let x = b.input("image", .float32, [nil, 3, 32, 32], names: ["batch", nil, nil, nil])
        let w1 = b.initializer("conv1.weight", shape: [8, 3, 3, 3], floats: weights(8 * 27, seed: 1))
        let b1 = b.initializer("conv1.bias", shape: [8], floats: weights(8, seed: 2))
        var y = b.node("Conv", [x, w1, b1], attributes: ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1])])
        y = b.node("Relu", [y])
        y = b.node("MaxPool", [y], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])
        let w2 = b.initializer("conv2.weight", shape: [16, 8, 3, 3], floats: weights(16 * 72, seed: 3))
        y = b.node("Conv", [y, w2], attributes: ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1])])
        y = b.node("Relu", [y])
        y = b.node("GlobalAveragePool", [y])
        y = b.node("Flatten", [y], attributes: ["axis": .int(1)])
        let fc = b.initializer("fc.weight", shape: [10, 16], floats: weights(160, seed: 4))
        let fcb = b.initializer("fc.bias", shape: [10], floats: weights(10, seed: 5))
        y = b.node("Gemm", [y, fc, fcb], attributes: ["transB": .int(1)])
        let p = b.node("Softmax", [y], output: "probabilities", attributes: ["axis": .int(1)])
        b.output(p, .float32, [nil, 10], names: ["batch", nil])
        return b.model(opset: opset, metadata: ["source": "kiln tests"])
    }
}
