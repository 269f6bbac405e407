import Foundation
import KilnTestSupport
import Testing

/// `kiln verify` end to end: the real CLI on ONNX's own test data.
@Suite("kiln verify")
struct VerifyCommandTests {
    @Test("exits 0 and prints the errors when every output is within tolerance, 3 when one is not")
    func exitStatusFollowsTolerance() throws {
        guard let root = try TestEnvironment.dataFile("onnx-node") else { return }
        let kiln = TestEnvironment.kilnExecutable
        let conv = root.appendingPathComponent("test_basic_conv_with_padding")
        let ok = try TestEnvironment.run(kiln, ["verify", conv.appendingPathComponent("model.onnx").path, conv.path])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("max abs") && ok.stdout.contains("max rel") && ok.stdout.contains("1/1 outputs"))
        // The same model against another test's golden data (same shapes, other values) must fail.
        let other = root.appendingPathComponent("test_basic_conv_without_padding/test_data_set_0")
        let bad = try TestEnvironment.run(kiln, ["verify", conv.appendingPathComponent("model.onnx").path, other.path])
        #expect(bad.status == 3, "\(bad.stdout)\(bad.stderr)")
        #expect(bad.stdout.contains("FAIL"))
        // A tolerance flag that is not a number is a usage error naming the flag.
        let usage = try TestEnvironment.run(kiln, ["verify", conv.appendingPathComponent("model.onnx").path, conv.path, "--rtol", "abc"])
        #expect(usage.status == 2 && usage.stderr.contains("--rtol"))
    }

    /// onnxruntime's outputs of PP-OCRv4 det on a real picture, as ONNX golden data.
    static let golden = #"""
    import os, sys
    import numpy as np, onnx, onnxruntime as ort
    from onnx import numpy_helper
    from skimage import data, transform
    model, out = sys.argv[1], sys.argv[2]
    img = transform.resize(np.asarray(data.astronaut()), (320, 320), preserve_range=True, anti_aliasing=False) / 255.0
    x = ((img - 0.5) / 0.5).transpose(2, 0, 1)[None].astype(np.float32)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    os.makedirs(os.path.join(out, "test_data_set_0"), exist_ok=True)
    for name, t in (("input_0", x), ("output_0", y)):
        with open(os.path.join(out, "test_data_set_0", name + ".pb"), "wb") as f:
            f.write(numpy_helper.from_array(t).SerializeToString())
    """#

    @Test("a correct real model passes by the rollout gate's fp32 rule, where ONNX's node-test tolerance fails it")
    func oneToleranceStoryForARealModel() throws {
        guard let python = try TestEnvironment.pythonTool(),
              let model = try TestEnvironment.dataFile("models/ch_PP-OCRv4_det_infer.onnx") else { return }
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try TestEnvironment.run(python, ["-c", Self.golden, model.path, dir.path])
        try #require(made.status == 0, "\(made.stderr)")
        let kiln = TestEnvironment.kilnExecutable
        let ok = try TestEnvironment.run(kiln, ["verify", model.path, dir.path])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("1/1 outputs within the fp32 rule") && ok.stdout.contains("normalised"), "\(ok.stdout)")
        // onnxruntime and Kiln round differently: near-zero elements miss ONNX's atol 1e-7.
        let onnx = try TestEnvironment.run(kiln, ["verify", model.path, dir.path, "--onnx-tolerance"])
        #expect(onnx.status == 3, "\(onnx.stdout)\(onnx.stderr)")
        #expect(onnx.stdout.contains("0/1 outputs within rtol 0.001 atol 1e-07"), "\(onnx.stdout)")
        // A wrong model still fails the default rule: the golden data of another input.
        let other = dir.appendingPathComponent("other/test_data_set_0")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: dir.appendingPathComponent("test_data_set_0/output_0.pb"), to: other.appendingPathComponent("output_0.pb"))
        let zeros = try TestEnvironment.run(python, ["-c", """
            import sys, numpy as np; from onnx import numpy_helper
            open(sys.argv[1], "wb").write(numpy_helper.from_array(np.zeros((1, 3, 320, 320), np.float32)).SerializeToString())
            """, other.appendingPathComponent("input_0.pb").path])
        try #require(zeros.status == 0, "\(zeros.stderr)")
        let wrong = try TestEnvironment.run(kiln, ["verify", model.path, other.deletingLastPathComponent().path])
        #expect(wrong.status == 3 && wrong.stdout.contains("normalised error"), "\(wrong.stdout)")
    }
}
