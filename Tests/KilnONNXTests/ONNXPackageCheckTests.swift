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
        let list = out.appendingPathComponent("list.tsv")
        try Data(lines.joined(separator: "\n").appending("\n").utf8).write(to: list)
        let result = try TestEnvironment.run(python, ["-c", PythonCheck.script, list.path])
        let failures = result.stdout.split(separator: "\n").filter { $0.hasPrefix("FAIL") }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.prefix(40).joined(separator: "\n"))")
        #expect(result.stdout.contains("checked \(lines.count)"), "\(result.stdout.suffix(300))")
    }
}
