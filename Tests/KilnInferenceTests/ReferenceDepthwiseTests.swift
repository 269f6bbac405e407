import Foundation
import KilnCore
import KilnInference
import KilnTestSupport
import Testing

/// The reference backend's two depthwise kernels (channel-blocked, per-plane) against onnxruntime.
@Suite("Reference depthwise convolution")
struct ReferenceDepthwiseTests {
    @Test("depthwise convolutions match onnxruntime for 5x5 and 3x3 windows, strides, dilation, odd padding and channel counts")
    func depthwiseMatchesOnnxRuntime() throws {
        guard let python = try TestEnvironment.pythonTool() else { return }
        let dir = try TestEnvironment.temporaryDirectory("depthwise-cases")
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/depthwise_cases.py")
        let gen = try TestEnvironment.run(python, [script.path, dir.path])
        try #require(gen.status == 0, "depthwise case script failed: \(gen.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(names.count == Int(gen.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let backend = ReferenceBackend()
        for name in names {
            let caseDir = dir.appendingPathComponent(name)
            let bytes = try [UInt8](Data(contentsOf: caseDir.appendingPathComponent("model.onnx")))
            let cases = try GoldenVerifier.loadCases([caseDir])
            for threads in [1, 2] {
                let options = BuildOptions(threads: threads)
                let runner = try backend.load(try backend.build(model: ModelSource(bytes: bytes, name: name), options: options), options: options)
                let results = try GoldenVerifier(rtol: 1e-5, atol: 1e-6).verify(runner: runner, cases: cases)
                for result in results {
                    #expect(result.passed, "\(name), \(threads) thread(s): \(result.outputs.map { $0.problem ?? "ok" })")
                }
            }
        }
    }
}
