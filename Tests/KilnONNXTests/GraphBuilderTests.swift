import Foundation
import KilnCore
import KilnONNX
import KilnTestSupport
import Testing

/// Models written with `ONNXGraphBuilder` are valid for the real `onnx` checker and onnxruntime.
@Suite struct GraphBuilderTests {
    @Test func builtDemoNetPassesTheOnnxCheckerAndRunsInOnnxruntime() throws {
        guard let python = try TestEnvironment.pythonTool() else { return }
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var paths: [String] = []
        for opset: Int64 in [13, 17, 21] {
            let url = dir.appendingPathComponent("demo\(opset).onnx")
            try Data(ONNXWriter.serialize(DemoNet.model(opset: opset))).write(to: url)
            paths.append(url.path)
        }
        let script = """
            import sys, onnx, numpy as np, onnxruntime as ort
            for path in sys.argv[1:]:
                onnx.checker.check_model(onnx.load(path), full_check=True)
                s = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
                x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
                (p,) = s.run(None, {'image': x})
                assert p.shape == (2, 10), p.shape
                assert np.allclose(p.sum(axis=1), 1, atol=1e-5), p.sum(axis=1)
                assert s.get_inputs()[0].shape[0] == 'batch'
                print('ok', path)
            """
        let result = try TestEnvironment.run(python, ["-c", script] + paths)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.components(separatedBy: "ok ").count == 4, "\(result.stdout)")
    }

    @Test func builderNamesNodesAndOutputsUniquely() {
        var b = ONNXGraphBuilder(name: "g")
        let x = b.input("x", .float32, [1])
        let a = b.node("Relu", [x])
        let c = b.node("Relu", [a])
        let split = b.nodes("Split", [c], outputCount: 2)
        #expect(Set([a, c] + split).count == 4)
        #expect(b.graph.nodes.map(\.name) == ["relu0", "relu1", "split0"])
        #expect(ONNXGraphBuilder.irVersion(forOpset: 17) == 8)
    }
}
