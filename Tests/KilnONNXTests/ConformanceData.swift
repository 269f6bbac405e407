import Foundation
import KilnTestSupport

/// Locates the ONNX backend node-test data shipped inside the test venv's `onnx==1.22.0`.
enum ConformanceData {
    /// The `onnx/backend/test/data/node` directory, or nil (skip) when the venv is not provisioned.
    static func nodeDirectory() throws -> URL? {
        guard let python = try TestEnvironment.pythonTool() else { return nil }
        let result = try TestEnvironment.run(python, ["-c", "import onnx,os;print(os.path.join(os.path.dirname(onnx.__file__),'backend','test','data','node'))"])
        let path = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, FileManager.default.fileExists(atPath: path + "/test_abs/model.onnx") else {
            throw ConformanceDataMissing(description: "onnx==1.22.0 in \(python) has no backend node data (\(result.stderr)); run `bash Tests/run.sh`")
        }
        return URL(fileURLWithPath: path)
    }

    /// Every test case directory under `node`, sorted.
    static func cases(in node: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: node.path).sorted().map { node.appendingPathComponent($0) }
    }

    /// The `.pb` files of a case, in `test_data_set_N/` folders, sorted.
    static func tensorFiles(in testCase: URL) -> [URL] {
        guard let sets = try? FileManager.default.contentsOfDirectory(atPath: testCase.path) else { return [] }
        var files: [URL] = []
        for set in sets.sorted() where set.hasPrefix("test_data_set_") {
            let dir = testCase.appendingPathComponent(set)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            files += names.sorted().filter { $0.hasSuffix(".pb") }.map { dir.appendingPathComponent($0) }
        }
        return files
    }
}

/// The venv exists but its onnx package lacks the node-test data.
struct ConformanceDataMissing: Error, CustomStringConvertible {
    var description: String
}
