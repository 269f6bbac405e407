import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnONNX
import Testing

/// 2-D max pooling (the column-then-row kernel for horizontal strides 1 and 2, phase planes for
/// larger strides) against the plain definition, NaN included.
@Suite("Reference max pooling")
struct ReferencePoolTests {
    /// One MaxPool node on a 1×C×H×W input, run by the reference backend on `threads` threads.
    static func run(_ x: [Float], shape: [Int], kernel: [Int], strides: [Int], pads: [Int], ceil: Bool, threads: Int) throws -> Tensor {
        var g = ONNXGraphBuilder(name: "maxpool")
        let input = g.input("x", .float32, shape.map { $0 })
        g.node("MaxPool", [input], output: "y",
               attributes: ["kernel_shape": .ints(kernel.map(Int64.init)), "strides": .ints(strides.map(Int64.init)),
                            "pads": .ints(pads.map(Int64.init)), "ceil_mode": .int(ceil ? 1 : 0)])
        g.output("y", .float32, [nil, nil, nil, nil])
        let bytes = ONNXWriter.serialize(g.model(opset: 12))
        let backend = ReferenceBackend()
        let options = BuildOptions(threads: threads)
        let runner = try backend.load(try backend.build(model: ModelSource(bytes: bytes, name: "maxpool"), options: options), options: options)
        return try runner.run(["x": Tensor(shape: shape, floats: x)])["y"]!
    }

    /// The max of each window by definition: padding never wins, a NaN anywhere in the window wins.
    static func expected(_ x: [Float], c: Int, h: Int, w: Int, kernel: [Int], strides: [Int], pads: [Int], oh: Int, ow: Int) -> [Float] {
        var y: [Float] = []
        for ch in 0..<c {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var best = -Float.infinity
                    for ky in 0..<kernel[0] {
                        for kx in 0..<kernel[1] {
                            let iy = oy * strides[0] - pads[0] + ky, ix = ox * strides[1] - pads[1] + kx
                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                            let v = x[(ch * h + iy) * w + ix]
                            if v.isNaN || best.isNaN { best = .nan } else { best = max(best, v) }
                        }
                    }
                    y.append(best)
                }
            }
        }
        return y
    }

    @Test("max pooling with strides 1, 2 and 3, padding and ceil mode equals each window's max; a NaN wins its windows",
          arguments: [
            ([3, 3], [2, 2], [1, 1, 1, 1], false),  // the ResNet stem's pool
            ([2, 3], [1, 1], [0, 1, 1, 0], false),
            ([3, 3], [2, 2], [0, 0, 0, 0], true),
            ([3, 2], [3, 3], [1, 0, 0, 1], false),
          ])
    func maxPoolMatchesDefinition(kernel: [Int], strides: [Int], pads: [Int], ceil: Bool) throws {
        let c = 3, h = 11, w = 21
        var x = (0..<(c * h * w)).map { Float(($0 * 7919) % 1013) / 100 - 5 }
        x[(1 * h + 4) * w + 9] = .nan
        x[(2 * h + 10) * w + 20] = .nan  // the last input, at the bottom-right corner
        for threads in [1, 2] {
            let y = try Self.run(x, shape: [1, c, h, w], kernel: kernel, strides: strides, pads: pads, ceil: ceil, threads: threads)
            let oh = y.shape[2], ow = y.shape[3]
            let want = Self.expected(x, c: c, h: h, w: w, kernel: kernel, strides: strides, pads: pads, oh: oh, ow: ow)
            let got = y.floatValues()
            #expect(got.count == want.count)
            let mismatches = zip(got, want).enumerated().filter { !($0.element.0 == $0.element.1 || ($0.element.0.isNaN && $0.element.1.isNaN)) }
            #expect(mismatches.isEmpty, "\(threads) thread(s): \(mismatches.prefix(5).map { "at \($0.offset): \($0.element.0) vs \($0.element.1)" })")
            #expect(want.contains { $0.isNaN })
        }
    }
}
