import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnTestSupport
import Testing

/// The reference backend's specialised convolution kernels against onnxruntime: both depthwise
/// kernels (channel-blocked, per-plane), the small-output dense kernel and the phase-plane GEMM.
@Suite("Reference convolution kernels")
struct ReferenceConvKernelTests {
    @Test("depthwise, small-output and phase-plane convolutions match onnxruntime: windows, strides, dilation, padding, channel counts, residuals")
    func convolutionsMatchOnnxRuntime() throws {
        guard let python = try TestEnvironment.pythonTool() else { return }
        let dir = try TestEnvironment.temporaryDirectory("conv-cases")
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/conv_cases.py")
        let gen = try TestEnvironment.run(python, [script.path, dir.path])
        try #require(gen.status == 0, "convolution case script failed: \(gen.stderr)")
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
                // Dense cases sum up to 360 products per output, in another order than onnxruntime's.
                let dense = name.hasPrefix("dense")
                let results = try GoldenVerifier(rtol: dense ? 1e-4 : 1e-5, atol: dense ? 2e-5 : 1e-6).verify(runner: runner, cases: cases)
                for result in results {
                    #expect(result.passed, "\(name), \(threads) thread(s): \(result.outputs.map { $0.problem ?? "ok" })")
                }
            }
        }
    }
}
