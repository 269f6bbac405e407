import Foundation
import KilnCore
import KilnONNX
import KilnVideo

/// A model `kiln selftest` builds and compares: its bytes and the preprocessing its frames get.
public struct SelfTestModel: Sendable {
    /// A short name for the report (`demo`, `convnet`, a file's name).
    public var name: String
    /// The ONNX bytes.
    public var bytes: [UInt8]
    /// How frames are preprocessed for it.
    public var preprocess: PreprocessSpec

    /// Creates a self-test model.
    public init(name: String, bytes: [UInt8], preprocess: PreprocessSpec) {
        self.name = name
        self.bytes = bytes
        self.preprocess = preprocess
    }

    /// Whether the model carries QuantizeLinear/DequantizeLinear nodes (so TensorRT can build it at int8
    /// without a calibration cache).
    public var hasQuantizationNodes: Bool {
        guard let model = try? ONNXReader.model(bytes) else { return false }
        return model.graph.nodes.contains { $0.opType == "QuantizeLinear" || $0.opType == "DequantizeLinear" }
    }

    /// Kiln's embedded demo model.
    public static var demo: SelfTestModel {
        SelfTestModel(name: "demo", bytes: DemoModel.bytes(), preprocess: DemoModel.preprocess)
    }

    /// A small convolutional classifier with the layers real vision nets are made of: strided 3×3
    /// convolutions with bias, batch normalisation, ReLU and HardSwish, a depthwise convolution, max
    /// pooling, a residual Add, global average pooling, Gemm and Softmax, on a 3×128×128 input.
    /// Its weights are a fixed pseudo-random sequence, so every device builds the same bytes.
    public static var convNet: SelfTestModel {
        var seed: UInt64 = 0x6B69_6C6E_7365_6C66
        func random(_ count: Int, scale: Float) -> [Float] {
            (0..<count).map { _ in
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                return (Float(seed >> 40) / Float(1 << 24) - 0.5) * 2 * scale
            }
        }
        func tensor(_ name: String, _ shape: [Int], _ values: [Float]) -> ONNXTensor {
            ONNXTensor(name: name, tensor: Tensor(shape: shape, floats: values))
        }
        let side = DemoModel.side
        let nodes = [
            ONNXNode(name: "stem", opType: "Conv", inputs: ["image", "stem_w", "stem_b"], outputs: ["stem"],
                     attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
            ONNXNode(name: "stem_bn", opType: "BatchNormalization", inputs: ["stem", "bn_scale", "bn_bias", "bn_mean", "bn_var"],
                     outputs: ["stem_norm"]),
            ONNXNode(name: "stem_act", opType: "Relu", inputs: ["stem_norm"], outputs: ["s1"]),
            ONNXNode(name: "depthwise", opType: "Conv", inputs: ["s1", "dw_w"], outputs: ["dw"],
                     attributes: ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1]), "group": .int(16)]),
            ONNXNode(name: "dw_act", opType: "HardSwish", inputs: ["dw"], outputs: ["dw_a"]),
            ONNXNode(name: "residual", opType: "Add", inputs: ["dw_a", "s1"], outputs: ["res"]),
            ONNXNode(name: "pool", opType: "MaxPool", inputs: ["res"], outputs: ["pooled"],
                     attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])]),
            ONNXNode(name: "expand", opType: "Conv", inputs: ["pooled", "ex_w", "ex_b"], outputs: ["ex"],
                     attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
            ONNXNode(name: "expand_act", opType: "Relu", inputs: ["ex"], outputs: ["ex_a"]),
            ONNXNode(name: "gap", opType: "GlobalAveragePool", inputs: ["ex_a"], outputs: ["gap"]),
            ONNXNode(name: "flatten", opType: "Flatten", inputs: ["gap"], outputs: ["features"], attributes: ["axis": .int(1)]),
            ONNXNode(name: "classifier", opType: "Gemm", inputs: ["features", "fc_w", "fc_b"], outputs: ["logits"],
                     attributes: ["transB": .int(1)]),
            ONNXNode(name: "softmax", opType: "Softmax", inputs: ["logits"], outputs: ["probabilities"], attributes: ["axis": .int(1)]),
        ]
        let graph = ONNXGraph(
            name: "kiln_selftest_convnet",
            nodes: nodes,
            initializers: [
                tensor("stem_w", [16, 3, 3, 3], random(16 * 27, scale: 0.4)),
                tensor("stem_b", [16], random(16, scale: 0.1)),
                tensor("bn_scale", [16], random(16, scale: 0.3).map { 1 + $0 }),
                tensor("bn_bias", [16], random(16, scale: 0.1)),
                tensor("bn_mean", [16], random(16, scale: 0.1)),
                tensor("bn_var", [16], random(16, scale: 0.2).map { 1 + $0 }),
                tensor("dw_w", [16, 1, 3, 3], random(16 * 9, scale: 0.4)),
                tensor("ex_w", [32, 16, 3, 3], random(32 * 144, scale: 0.15)),
                tensor("ex_b", [32], random(32, scale: 0.1)),
                tensor("fc_w", [10, 32], random(320, scale: 1.5)),
                tensor("fc_b", [10], random(10, scale: 0.1)),
            ],
            inputs: [.tensor("image", .float32, [1, 3, side, side])],
            outputs: [.tensor("probabilities", .float32, [1, 10])])
        let model = ONNXModel(irVersion: 8, opsetImports: ["": 17], producerName: "kiln", producerVersion: "selftest-1",
                              docString: "Kiln's self-test convolutional net", graph: graph)
        return SelfTestModel(name: "convnet", bytes: ONNXWriter.serialize(model), preprocess: DemoModel.preprocess)
    }

    /// The same model with altered weights (`ONNXModel.alteringFloatWeights`): what an engine that
    /// does not match its ONNX looks like to the accuracy gate.
    public func withAlteredWeights() throws -> SelfTestModel {
        let model = try ONNXReader.model(bytes).alteringFloatWeights()
        return SelfTestModel(name: name + "-altered", bytes: ONNXWriter.serialize(model), preprocess: preprocess)
    }
}
