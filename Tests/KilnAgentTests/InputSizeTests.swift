import Foundation
@testable import KilnAgent
import KilnCore
import KilnONNX
import KilnTestSupport
import KilnVideo
import Testing

/// Dynamic-size models are served at the size their metadata, the artifact or the source says,
/// and the summary names the rule.
@Suite struct InputSizeTests {
    /// A model with input `[1, 3, H, W]` (nil = dynamic) whose output is the fed tensor's shape,
    /// normalised to sum 1, `[1, 4]`: top-k of it (a distribution, so no softmax) shows the size
    /// the loop really fed.
    static func shapeEchoModel(height: Int?, width: Int?, metadata: [String: String]) -> [UInt8] {
        var b = ONNXGraphBuilder(name: "shape-echo")
        let x = b.input("images", .float32, [1, 3, height, width])
        let shape = b.node("Shape", [x])
        let floats = b.node("Cast", [shape], attributes: ["to": .int(1)])
        let mean = b.node("ReduceMean", [floats], attributes: ["axes": .ints([0]), "keepdims": .int(1)])
        let four = b.initializer("four", shape: [1], floats: [4])
        let normalised = b.node("Div", [floats, b.node("Mul", [mean, four])])
        let target = b.initializer("target", shape: [2], int64s: [1, 4])
        b.output(b.node("Reshape", [normalised, target], output: "shape"), .float32, [1, 4])
        return ONNXWriter.serialize(b.model(opset: 17, metadata: metadata))
    }

    /// Runs `kiln run` on `model` for 2 frames; returns the JSON summary and the first result line.
    static func serve(_ model: [UInt8], extra: [String] = [], source: String = "synthetic:1280x720") throws
        -> (summary: [String: Any], result: [String: Any], stderr: String)
    {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("model.onnx")
        try Data(model).write(to: path)
        let results = dir.appendingPathComponent("results.jsonl")
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
            "run", path.path, "--source", source, "--frames", "2", "--postprocess", "topk:4",
            "--results", "file:\(results.path)", "--json", "--report-interval", "0", "--backend", "reference",
            "--cache-dir", dir.appendingPathComponent("cache").path,
        ] + extra)
        #expect(r.status == 0, "\(r.stderr)")
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "\(r.stdout)\n\(r.stderr)")
        let line = try #require(try String(contentsOf: results, encoding: .utf8).split(separator: "\n").first)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return (summary, result, r.stderr)
    }

    /// The shape the model saw, largest first, from the top-k scores (the batch axis, 1, is the smallest).
    static func fedSize(_ result: [String: Any]) -> [Int] {
        let scores = ((result["classifications"] as? [[String: Any]]) ?? []).compactMap { $0["score"] as? Double }
        guard let unit = scores.min(), unit > 0 else { return [] }
        return scores.map { Int(($0 / unit).rounded()) }
    }

    @Test func anUltralyticsExportWithDynamicSizeIsServedAtItsImgsz() throws {
        let model = Self.shapeEchoModel(height: nil, width: nil, metadata: ["imgsz": "[320, 256]", "stride": "32"])
        let (summary, result, stderr) = try Self.serve(model)
        let input = try #require(summary["input"] as? [String: Any], "\(summary)")
        #expect(input["width"] as? Int == 256)
        #expect(input["height"] as? Int == 320)
        #expect(input["rule"] as? String == "model metadata imgsz")
        #expect(stderr.contains("served at 256x320 (model metadata imgsz)"), "\(stderr)")
        // The engine really received [1, 3, 320, 256].
        #expect(Self.fedSize(result) == [320, 256, 3, 1], "\(result)")
    }

    @Test func preprocessOverridesTheMetadataAndSaysSo() throws {
        let model = Self.shapeEchoModel(height: nil, width: nil, metadata: ["imgsz": "[320, 320]"])
        let (summary, result, _) = try Self.serve(model, extra: ["--preprocess", "rgb,192x160"])
        let input = try #require(summary["input"] as? [String: Any])
        #expect(input["rule"] as? String == "--preprocess")
        #expect(Self.fedSize(result) == [192, 160, 3, 1], "\(result)")
    }

    @Test func withoutMetadataTheSourceSizeIsRoundedToTheStrideAndCapped() throws {
        let model = Self.shapeEchoModel(height: nil, width: nil, metadata: [:])
        // 1280x720 scaled to the default 960 cap: 960x540, rounded to stride 32: 960x544.
        let (summary, result, _) = try Self.serve(model)
        let input = try #require(summary["input"] as? [String: Any])
        #expect(input["rule"] as? String == "source size rounded to the stride")
        #expect(Self.fedSize(result) == [960, 544, 3, 1], "\(result)")
        // A small source is used at its own size, rounded to the stride.
        let (_, small, _) = try Self.serve(model, source: "synthetic:330x250")
        #expect(Self.fedSize(small) == [320, 256, 3, 1], "\(small)")
    }

    @Test func aDynamicWidthRecogniserKeepsTheSourceAspectAtItsHeight() throws {
        let model = Self.shapeEchoModel(height: 48, width: nil, metadata: [:])
        // 48 · 640/160 = 192.
        let (summary, result, _) = try Self.serve(model, source: "synthetic:640x160")
        let input = try #require(summary["input"] as? [String: Any])
        #expect(input["rule"] as? String == "source aspect ratio at the known side")
        #expect(Self.fedSize(result) == [192, 48, 3, 1], "\(result)")
    }

    @Test func aSizeThatContradictsAFixedInputIsAUsageError() throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("model.onnx")
        try Data(Self.shapeEchoModel(height: 64, width: 64, metadata: [:])).write(to: path)
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
            "run", path.path, "--preprocess", "height=48", "--frames", "1", "--cache-dir", dir.appendingPathComponent("cache").path,
        ])
        #expect(r.status == 2)
        #expect(r.stderr.contains("fixes it at 64"), "\(r.stderr)")
    }

    @Test func resolverRulesInOrder() throws {
        let dynamic = TensorDescriptor(name: "x", elementType: .float32, shape: [1, 3, nil, nil])
        let source = FrameSize(width: 1920, height: 1080)
        var r = InputSizeResolver(input: dynamic, metadata: ["imgsz": "640", "kiln.preprocess": "bgr,512x384"], sourceSize: source, sideCap: 960)
        #expect(try r.resolve(preprocessFlag: nil, annotation: nil, model: "m") == InputSize(width: 512, height: 384, rule: .kilnMetadata))
        #expect(try r.resolve(preprocessFlag: nil, annotation: "416x416", model: "m") == InputSize(width: 416, height: 416, rule: .annotation))
        #expect(try r.resolve(preprocessFlag: "height=320", annotation: nil, model: "m") == InputSize(width: 512, height: 320, rule: .preprocessFlag))
        r.metadata = [:]
        #expect(try r.resolve(preprocessFlag: nil, annotation: nil, model: "m") == InputSize(width: 960, height: 544, rule: .sourceSize))
        r.sourceSize = nil
        #expect(try r.resolve(preprocessFlag: nil, annotation: nil, model: "m") == InputSize(width: 640, height: 640, rule: .fallback))
    }

    @Test func preprocessTokensMayComeInAnyOrder() throws {
        let base = PreprocessSpec(width: 8, height: 8)
        let a = try PreprocessSpec(parsing: "bgr,imagenet", base: base)
        let b = try PreprocessSpec(parsing: "imagenet,bgr", base: base)
        #expect(a == b)
        #expect(a.mean == [0.406, 0.456, 0.485])
    }
}
