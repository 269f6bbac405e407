import Foundation
import KilnAgent
import KilnCore
import KilnInference
import KilnReference
import KilnONNX
import KilnTestSupport
import KilnVideo
import Testing

/// Runs the real `kiln` executable with its own cache directory.
struct KilnProcess {
    let cache: URL

    init() throws { cache = try TestEnvironment.temporaryDirectory("kiln-demo-cache") }

    func run(_ arguments: [String]) throws -> (status: Int32, json: [String: Any]?, stderr: String) {
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, arguments,
                                        environment: ["XDG_CACHE_HOME": cache.path, "CACHE_DIRECTORY": ""])
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let json = try? JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
        return (r.status, json, r.stderr)
    }

    var engineFiles: [URL] {
        let dir = cache.appendingPathComponent("kiln/engines")
        return ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "engine" }
    }
}

@Suite struct DemoTests {
    @Test func secondDemoIsACacheHitAndACorruptEngineIsRebuilt() throws {
        let kiln = try KilnProcess()
        defer { try? FileManager.default.removeItem(at: kiln.cache) }
        let first = try kiln.run(["demo", "--frames", "30", "--json", "--report-interval", "0"])
        #expect(first.status == 0, "\(first.stderr)")
        let engine1 = try #require(first.json?["engine"] as? [String: Any])
        #expect(engine1["cache"] as? String == "miss")
        #expect(first.json?["frames"] as? Int == 30)
        #expect(first.json?["backend"] as? String == "reference")
        for stage in ["capture", "preprocess", "infer", "postprocess", "end_to_end"] {
            let p = try #require((first.json?["latency_ms"] as? [String: Any])?[stage] as? [String: Double])
            #expect(p["p50"] != nil && p["p90"] != nil && p["p99"] != nil)
        }

        let second = try kiln.run(["demo", "--frames", "30", "--json", "--report-interval", "0"])
        let engine2 = try #require(second.json?["engine"] as? [String: Any])
        #expect(engine2["cache"] as? String == "hit")
        #expect(engine2["key"] as? String == engine1["key"] as? String)

        // Corrupt the engine file in place: the sha256 check catches it, the entry is rebuilt.
        let file = try #require(kiln.engineFiles.first)
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: file)
        let third = try kiln.run(["demo", "--frames", "30", "--json", "--report-interval", "0"])
        #expect(third.status == 0, "\(third.stderr)")
        #expect((third.json?["engine"] as? [String: Any])?["cache"] as? String == "miss")
        #expect(third.stderr.contains("corrupt"))
        let fourth = try kiln.run(["demo", "--frames", "10", "--json", "--report-interval", "0"])
        #expect((fourth.json?["engine"] as? [String: Any])?["cache"] as? String == "hit")
    }

    @Test func badFlagsExitWithUsageAndNameTheFlag() throws {
        let kiln = try KilnProcess()
        defer { try? FileManager.default.removeItem(at: kiln.cache) }
        let r = try kiln.run(["demo", "--duration", "soon"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--duration soon"))
        let s = try kiln.run(["demo", "--source", "camera-of-dreams"])
        #expect(s.status == 2 && s.stderr.contains("camera-of-dreams"))
    }

    /// The demo model finds the quadrant of the synthetic source's bright square.
    @Test func demoModelLocatesTheBrightSquare() throws {
        let backend = ReferenceBackend()
        let model = ModelSource(bytes: DemoModel.bytes(), name: "kiln-demo")
        let runner = try backend.load(try backend.build(model: model, options: BuildOptions()), options: BuildOptions())
        let source = SyntheticSource(width: 1280, height: 720)
        let pre = CPUPreprocessor(spec: DemoModel.preprocess)
        var checked = 0
        for index in stride(from: 0, to: 400, by: 13) {
            let pixels = source.render(index)
            // Where the square is: the centroid of pure-white pixels.
            var sx = 0, sy = 0, n = 0
            for y in stride(from: 0, to: 720, by: 4) {
                for x in stride(from: 0, to: 1280, by: 4) where pixels[(y * 1280 + x) * 3 + 2] == 255 && pixels[(y * 1280 + x) * 3] == 255 {
                    sx += x; sy += y; n += 1
                }
            }
            guard n > 0 else { continue }
            let cx = Double(sx) / Double(n), cy = Double(sy) / Double(n)
            // Skip frames where the square straddles a quadrant border.
            guard abs(cx - 640) > 80, abs(cy - 360) > 80 else { continue }
            let expected = (cy < 360 ? 0 : 2) + (cx < 640 ? 0 : 1)
            let frame = Frame(stream: "s", index: index, width: 1280, height: 720, format: .rgb24, pixels: pixels, captureTime: 0, captureSeconds: 0)
            let (input, _) = try pre.tensor(for: frame)
            let scores = try #require(try runner.run(["image": input])["quadrant"]).floatValues()
            let best = scores.indices.max { scores[$0] < scores[$1] }!
            #expect(best == expected, "frame \(index): square at (\(cx), \(cy)), scores \(scores)")
            checked += 1
        }
        #expect(checked > 5)
    }

    /// The demo model is valid ONNX for the ONNX checker and onnxruntime agrees with Kiln.
    @Test func demoModelAgreesWithOnnxRuntime() throws {
        guard let python = try TestEnvironment.pythonTool() else { return }
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(DemoModel.bytes()).write(to: dir.appendingPathComponent("demo.onnx"))
        let source = SyntheticSource(width: 1280, height: 720)
        let frame = try #require(try source.next())
        let (input, _) = try CPUPreprocessor(spec: DemoModel.preprocess).tensor(for: frame)
        try Data(input.bytes).write(to: dir.appendingPathComponent("input.f32"))
        let script = """
            import sys, numpy as np, onnx, onnxruntime as ort
            d = sys.argv[1]
            onnx.checker.check_model(onnx.load(d + '/demo.onnx'), full_check=True)
            x = np.fromfile(d + '/input.f32', dtype=np.float32).reshape(1, 3, 128, 128)
            s = ort.InferenceSession(d + '/demo.onnx', providers=['CPUExecutionProvider'])
            s.run(None, {'image': x})[0].astype(np.float32).tofile(d + '/ort.f32')
            """
        let r = try TestEnvironment.run(python, ["-c", script, dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        let expected = try Data(contentsOf: dir.appendingPathComponent("ort.f32")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let backend = ReferenceBackend()
        let runner = try backend.load(try backend.build(model: ModelSource(bytes: DemoModel.bytes(), name: "demo"), options: BuildOptions()),
                                      options: BuildOptions())
        let ours = try #require(try runner.run(["image": input])["quadrant"]).floatValues()
        #expect(ours.count == expected.count)
        for (a, b) in zip(ours, expected) { #expect(abs(a - b) <= 1e-4 + 1e-3 * abs(b)) }
    }
}
