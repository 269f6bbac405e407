import Foundation
import KilnCore
import KilnONNX
import KilnTestSupport
import Testing

/// Kiln's writer judged by the real `onnx` Python package: what Kiln writes must pass
/// `onnx.checker` and load back as the same model and tensors as the original.
@Suite struct ONNXPackageCheckTests {
    @Test func rewrittenConformanceModelsAndTensorsMatchTheOriginalsInOnnx() throws {
        guard let node = try ConformanceData.nodeDirectory(), let python = try TestEnvironment.pythonTool() else { return }
        let out = try TestEnvironment.temporaryDirectory("kiln-onnx-check")
        defer { try? FileManager.default.removeItem(at: out) }
        var lines: [String] = []
        // Every model; the tensors of every 4th case (the rest are covered by the Swift round trip).
        for (index, testCase) in try ConformanceData.cases(in: node).enumerated() {
            let name = testCase.lastPathComponent
            let model = try ONNXReader.model(contentsOf: testCase.appendingPathComponent("model.onnx"))
            let rewritten = out.appendingPathComponent("\(name).onnx")
            try Data(ONNXWriter.serialize(model)).write(to: rewritten)
            lines.append("model\t\(testCase.appendingPathComponent("model.onnx").path)\t\(rewritten.path)")
            guard index % 4 == 0 else { continue }
            for (k, file) in ConformanceData.tensorFiles(in: testCase).enumerated() {
                guard let tensor = try? ONNXReader.tensor(contentsOf: file) else { continue }  // sequences/optionals
                let target = out.appendingPathComponent("\(name)-\(k).pb")
                try Data(ONNXWriter.serialize(tensor)).write(to: target)
                lines.append("tensor\t\(file.path)\t\(target.path)")
            }
        }
        // Real models shipped in the onnxruntime wheel (IR 3, ai.onnx.ml domain, map/sequence outputs).
        let datasets = try TestEnvironment.run(python, ["-c", "import onnxruntime,os;print(os.path.join(os.path.dirname(onnxruntime.__file__),'datasets'))"])
        let datasetDir = datasets.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let shipped = ((try? FileManager.default.contentsOfDirectory(atPath: datasetDir)) ?? []).filter { $0.hasSuffix(".onnx") }.sorted()
        #expect(shipped.count >= 3, "onnxruntime datasets at \(datasetDir): \(shipped)")
        for name in shipped {
            let original = URL(fileURLWithPath: datasetDir).appendingPathComponent(name)
            let rewritten = out.appendingPathComponent("ort-\(name)")
            try Data(ONNXWriter.serialize(try ONNXReader.model(contentsOf: original))).write(to: rewritten)
            lines.append("model\t\(original.path)\t\(rewritten.path)")
        }
        let list = out.appendingPathComponent("list.tsv")
        try Data(lines.joined(separator: "\n").appending("\n").utf8).write(to: list)
        let result = try TestEnvironment.run(python, ["-c", PythonCheck.script, list.path])
        let failures = result.stdout.split(separator: "\n").filter { $0.hasPrefix("FAIL") }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.prefix(40).joined(separator: "\n"))")
        #expect(result.stdout.contains("checked \(lines.count)"), "\(result.stdout.suffix(300))")
    }
}
