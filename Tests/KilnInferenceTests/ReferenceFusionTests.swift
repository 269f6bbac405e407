import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnONNX
import Testing

/// Conv + activation fusion must give what the separate ops give.
///
/// The same graph is built twice: once as is (the activation fuses into the Conv), once with the
/// Conv output also exposed as a graph output, which keeps the ops apart. Both run through the
/// reference backend; the unfused one uses the standalone activation kernels.
@Suite("Reference Conv+activation fusion")
struct ReferenceFusionTests {
    enum Act: String, CaseIterable, Sendable {
        case relu, leakyRelu, clip, sigmoid, hardSigmoid, hardSwish, swish
        /// HardSwish as exporters spell it: x · Clip(x + 3, 0, 6) / 6 (recognised, then fused).
        case hardSwishSpelledOut
        /// A per-channel constant scale then a constant shift (folded into the weights and bias).
        case scaleShift
    }

    static func model(_ act: Act, exposeConv: Bool, depthwise: Bool) -> [UInt8] {
        var b = ONNXGraphBuilder(name: "fusion")
        let x = b.input("x", .float32, [1, 8, 9, 9])
        let group = depthwise ? 8 : 1
        let wCount = 8 * (8 / group) * 9
        let w = b.initializer("w", shape: [8, 8 / group, 3, 3], floats: (0..<wCount).map { Float(($0 * 37) % 19) / 19 - 0.45 })
        let bias = b.initializer("bias", shape: [8], floats: (0..<8).map { Float($0) * 0.3 - 1 })
        let conv = b.node("Conv", [x, w, bias], output: "conv", attributes: [
            "kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1]), "group": .int(Int64(group)),
        ])
        let y: String
        switch act {
        case .relu: y = b.node("Relu", [conv], output: "y")
        case .leakyRelu: y = b.node("LeakyRelu", [conv], output: "y", attributes: ["alpha": .float(0.2)])
        case .clip:
            y = b.node("Clip", [conv, b.initializer("lo", shape: [], floats: [-0.5]), b.initializer("hi", shape: [], floats: [0.7])], output: "y")
        case .sigmoid: y = b.node("Sigmoid", [conv], output: "y")
        case .hardSigmoid: y = b.node("HardSigmoid", [conv], output: "y", attributes: ["alpha": .float(0.3), "beta": .float(0.4)])
        case .hardSwish: y = b.node("HardSwish", [conv], output: "y")
        case .swish: y = b.node("Mul", [conv, b.node("Sigmoid", [conv])], output: "y")
        case .hardSwishSpelledOut:
            let shifted = b.node("Add", [conv, b.initializer("three", shape: [], floats: [3])])
            let clipped = b.node("Clip", [shifted, b.initializer("zero", shape: [], floats: [0]), b.initializer("six", shape: [], floats: [6])])
            y = b.node("Div", [b.node("Mul", [conv, clipped]), b.initializer("divisor", shape: [], floats: [6])], output: "y")
        case .scaleShift:
            let scale = b.initializer("scale", shape: [1, 8, 1, 1], floats: (0..<8).map { 0.5 + Float($0) * 0.25 })
            y = b.node("Add", [b.initializer("shift", shape: [1], floats: [-0.3]), b.node("Mul", [scale, conv])], output: "y")
        }
        b.output(y, .float32, [1, 8, 9, 9])
        if exposeConv { b.output("conv", .float32, [1, 8, 9, 9]) }
        return ONNXWriter.serialize(b.model(opset: 17))
    }

    /// The input both kinds of model take.
    static let input = Tensor(shape: [1, 8, 9, 9], floats: (0..<648).map { Float(($0 * 53) % 29) / 14.5 - 1 })

    /// Builds `model` with the reference backend on `threads` threads and returns output `y` for `input`.
    static func run(_ model: [UInt8], name: String, threads: Int) throws -> [Float] {
        let backend = ReferenceBackend()
        let artifact = try backend.build(model: ModelSource(bytes: model, name: name), options: BuildOptions(threads: threads))
        return try backend.load(artifact, options: BuildOptions(threads: threads)).run(["x": input])["y"]!.floatValues()
    }

    /// The largest difference between two outputs, relative to the reference value (at least 1).
    static func worstDifference(_ values: [Float], _ reference: [Float]) -> Float {
        zip(values, reference).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 1
    }

    @Test("fused and unfused graphs agree for every fusable activation, dense and depthwise", arguments: Act.allCases)
    func fusedMatchesUnfused(_ act: Act) throws {
        for depthwise in [false, true] {
            func run(_ expose: Bool) throws -> [Float] {
                try Self.run(Self.model(act, exposeConv: expose, depthwise: depthwise), name: "\(act)", threads: 2)
            }
            let fused = try run(false), separate = try run(true)
            #expect(fused.count == 648)
            let worst = Self.worstDifference(fused, separate)
            // Folding a scale into the weights rounds each product once more.
            #expect(worst <= (act == .scaleShift ? 1e-5 : 1e-6), "\(act) depthwise=\(depthwise): max difference \(worst)")
        }
    }

    /// The kinds of convolution a residual Add can follow.
    enum ResidualConv: String, CaseIterable, Sendable {
        case dense3x3, pointwise, depthwise, strided3x3
    }

    /// y = Relu(Add(Conv(x), shortcut)) with the shortcut (a 1×1 Conv of x) computed after the
    /// main Conv in node order, and the Add's operands in either order.
    static func residualModel(_ kind: ResidualConv, swapped: Bool, relu: Bool, exposeConv: Bool) -> [UInt8] {
        var b = ONNXGraphBuilder(name: "residual")
        let x = b.input("x", .float32, [1, 8, 9, 9])
        let stride: Int64 = kind == .strided3x3 ? 2 : 1
        let (k, group): (Int64, Int) = switch kind {
        case .dense3x3, .strided3x3: (3, 1)
        case .pointwise: (1, 1)
        case .depthwise: (3, 8)
        }
        let wCount = 8 * (8 / group) * Int(k * k)
        let w = b.initializer("w", shape: [8, 8 / group, Int(k), Int(k)], floats: (0..<wCount).map { Float(($0 * 37) % 19) / 19 - 0.45 })
        let bias = b.initializer("bias", shape: [8], floats: (0..<8).map { Float($0) * 0.3 - 1 })
        let conv = b.node("Conv", [x, w, bias], output: "conv", attributes: [
            "kernel_shape": .ints([k, k]), "pads": .ints(Array(repeating: k / 2, count: 4)), "group": .int(Int64(group)),
            "strides": .ints([stride, stride]),
        ])
        let ws = b.initializer("ws", shape: [8, 8, 1, 1], floats: (0..<64).map { Float(($0 * 11) % 13) / 13 - 0.5 })
        let shortcut = b.node("Conv", [x, ws], output: "shortcut", attributes: [
            "kernel_shape": .ints([1, 1]), "strides": .ints([stride, stride]),
        ])
        let sum = b.node("Add", swapped ? [shortcut, conv] : [conv, shortcut], output: relu ? "sum" : "y")
        if relu { _ = b.node("Relu", [sum], output: "y") }
        let side = kind == .strided3x3 ? 5 : 9
        b.output("y", .float32, [1, 8, side, side])
        if exposeConv { b.output("conv", .float32, [1, 8, side, side]) }
        return ONNXWriter.serialize(b.model(opset: 17))
    }

    @Test("a Conv fused with a following residual Add (and Relu) matches the separate ops", arguments: ResidualConv.allCases)
    func residualFusionMatchesSeparateOps(_ kind: ResidualConv) throws {
        for swapped in [false, true] {
            for relu in [false, true] {
                func run(_ expose: Bool, threads: Int) throws -> [Float] {
                    try Self.run(Self.residualModel(kind, swapped: swapped, relu: relu, exposeConv: expose), name: "\(kind)", threads: threads)
                }
                let separate = try run(true, threads: 1)
                #expect(separate.count == (kind == .strided3x3 ? 200 : 648))
                #expect(relu == false || separate.contains(0), "the Relu must clip something for the test to mean anything")
                for threads in [1, 2] {
                    let fused = try run(false, threads: threads)
                    let worst = Self.worstDifference(fused, separate)
                    #expect(fused.count == separate.count && worst <= 1e-6,
                            "\(kind) swapped=\(swapped) relu=\(relu) threads=\(threads): max difference \(worst)")
                }
            }
        }
    }
}
