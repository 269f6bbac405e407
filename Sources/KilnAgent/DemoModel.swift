import Foundation
import KilnCore
import KilnONNX
import KilnVideo

/// Kiln's embedded default model, written by Kiln itself: "where is the bright square?"
///
/// A small fixed convolutional net that responds to the synthetic source's moving white square:
/// a 1×1 convolution turns white pixels into a mask (`relu(R+G+B − 2.7)` on 0–1 values), a 3×3
/// box-blur convolution smooths it, a 64×64 average pool measures how much of the mask lies in
/// each quadrant of the 128×128 input, and a Gemm + Softmax turn that into the probability that
/// the square is in the top-left, top-right, bottom-left or bottom-right quadrant.
/// Its preprocessing and labels travel in the model's `metadata_props` (`kiln.preprocess`,
/// `kiln.labels`), as any model's may.
public enum DemoModel {
    /// The input side in pixels.
    public static let side = 128
    /// The class labels, in output order.
    public static let labels = ["top-left", "top-right", "bottom-left", "bottom-right"]
    /// The preprocessing the model expects: stretch to 128×128, RGB, values / 255.
    public static let preprocess = PreprocessSpec(width: side, height: side, resize: .stretch, channelOrder: .rgb, padValue: 0)

    /// The model as ONNX.
    public static func model() -> ONNXModel {
        func tensor(_ name: String, _ shape: [Int], _ values: [Float]) -> ONNXTensor {
            ONNXTensor(name: name, tensor: Tensor(shape: shape, floats: values))
        }
        let blur = [Float](repeating: 1.0 / 9, count: 9)
        var gemm = [Float](repeating: 0, count: 16)
        for i in 0..<4 { gemm[i * 4 + i] = 400 }
        let nodes = [
            ONNXNode(name: "white_mask", opType: "Conv", inputs: ["image", "mask_w", "mask_b"], outputs: ["mask_raw"],
                     attributes: ["kernel_shape": .ints([1, 1])]),
            ONNXNode(name: "mask_relu", opType: "Relu", inputs: ["mask_raw"], outputs: ["mask"]),
            ONNXNode(name: "blur", opType: "Conv", inputs: ["mask", "blur_w"], outputs: ["smooth"],
                     attributes: ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1])]),
            ONNXNode(name: "quadrants", opType: "AveragePool", inputs: ["smooth"], outputs: ["pooled"],
                     attributes: ["kernel_shape": .ints([64, 64]), "strides": .ints([64, 64])]),
            ONNXNode(name: "flatten", opType: "Flatten", inputs: ["pooled"], outputs: ["features"], attributes: ["axis": .int(1)]),
            ONNXNode(name: "logits", opType: "Gemm", inputs: ["features", "fc_w", "fc_b"], outputs: ["logits"],
                     attributes: ["transB": .int(1)]),
            ONNXNode(name: "softmax", opType: "Softmax", inputs: ["logits"], outputs: ["quadrant"], attributes: ["axis": .int(1)]),
        ]
        let graph = ONNXGraph(
            name: "kiln_demo_quadrant",
            nodes: nodes,
            initializers: [
                tensor("mask_w", [1, 3, 1, 1], [1, 1, 1]),
                tensor("mask_b", [1], [-2.7]),
                tensor("blur_w", [1, 1, 3, 3], blur),
                tensor("fc_w", [4, 4], gemm),
                tensor("fc_b", [4], [0, 0, 0, 0]),
            ],
            inputs: [.tensor("image", .float32, [nil, 3, side, side], names: ["batch", nil, nil, nil])],
            outputs: [.tensor("quadrant", .float32, [nil, 4], names: ["batch", nil])])
        return ONNXModel(irVersion: 8, opsetImports: ["": 17], producerName: "kiln", producerVersion: "demo-1",
                         docString: "Kiln's embedded demo: which quadrant holds the bright square",
                         metadata: ["kiln.preprocess": preprocess.text, "kiln.labels": labels.joined(separator: ",")],
                         graph: graph)
    }

    /// The model's serialized bytes (deterministic: the same bytes, and so digest, every time).
    public static func bytes() -> [UInt8] { ONNXWriter.serialize(model()) }
}
