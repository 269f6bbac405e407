import Foundation
import KilnCore
@testable import KilnONNX
import KilnTestSupport
import Testing

/// Tensors stored as ONNX external data: read from inside the model's directory, never outside it.
@Suite struct ExternalDataTests {
    /// A float32 [4] TensorProto whose data lives in an external file described by `entries`.
    func externalTensor(_ entries: [(String, String)]) -> [UInt8] {
        tensorProto { w in
            w.packedInt64s(1, [4]); w.int64(2, 1); w.string(8, "w")
            for (k, v) in entries { w.message(13) { e in e.string(1, k); e.string(2, v) } }
            w.int64(14, 1)
        }
    }

    func message(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return (error as? ONNXError)?.message ?? "untyped \(error)" }
    }

    @Test func externalDataInsideTheModelDirectoryIsRead() throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("data"), withIntermediateDirectories: true)
        let values: [Float] = [1, 2, 3, 4]
        let blob = [UInt8](repeating: 0xAA, count: 8) + values.withUnsafeBytes { Array($0) }
        try Data(blob).write(to: dir.appendingPathComponent("data/weights.bin"))
        let bytes = externalTensor([("location", "data/weights.bin"), ("offset", "8"), ("length", "16")])
        let tensor = try ONNXReader.tensor(bytes, baseDirectory: dir)
        #expect(tensor.tensor.values(as: Float.self) == values)
        // Without a directory the reader refuses and says how to fix it.
        #expect(message { _ = try ONNXReader.tensor(bytes) }?.contains("external file") == true)
    }

    @Test func locationsEscapingTheModelDirectoryAreRefused() throws {
        let root = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(count: 16).write(to: root.appendingPathComponent("secret.bin"))
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("link.bin").path,
                                                   withDestinationPath: root.appendingPathComponent("secret.bin").path)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("up").path, withDestinationPath: root.path)
        for location in ["../secret.bin", "/etc/passwd", "a/../../secret.bin", "link.bin", "up/secret.bin", "", ".", "..\\secret.bin"] {
            let text = message { _ = try ONNXReader.tensor(externalTensor([("location", location)]), baseDirectory: dir) }
            #expect(text != nil, "location \(location) was followed")
            #expect(text?.contains("outside") == true || text?.contains("relative path") == true || text?.contains("without a location") == true,
                    "\(location): \(text ?? "")")
        }
    }

    @Test func rangesBeyondTheFileOrOfTheWrongLengthAreRefused() throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(count: 20).write(to: dir.appendingPathComponent("w.bin"))
        #expect(message { _ = try ONNXReader.tensor(externalTensor([("location", "w.bin"), ("offset", "8")]), baseDirectory: dir) }?
            .contains("beyond the end") == true)
        #expect(message { _ = try ONNXReader.tensor(externalTensor([("location", "w.bin"), ("length", "12")]), baseDirectory: dir) }?
            .contains("does not match") == true)
        #expect(message { _ = try ONNXReader.tensor(externalTensor([("location", "w.bin"), ("offset", "-1")]), baseDirectory: dir) }?
            .contains("non-negative") == true)
        #expect(message { _ = try ONNXReader.tensor(externalTensor([("location", "missing.bin")]), baseDirectory: dir) }?
            .contains("cannot open") == true)
        #expect(try ONNXReader.tensor(externalTensor([("location", "w.bin"), ("offset", "4")]), baseDirectory: dir).tensor.bytes.count == 16)
    }

    @Test func modelsSavedWithExternalDataByTheOnnxPackageReadLikeEmbeddedOnes() throws {
        guard let python = try TestEnvironment.pythonTool() else { return }
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = DemoNet.model()
        let embedded = dir.appendingPathComponent("embedded.onnx")
        try Data(ONNXWriter.serialize(model)).write(to: embedded)
        let externalDir = dir.appendingPathComponent("ext")
        let script = """
            import onnx, sys, os
            m = onnx.load(sys.argv[1])
            os.makedirs(sys.argv[2], exist_ok=True)
            onnx.save_model(m, os.path.join(sys.argv[2], 'model.onnx'), save_as_external_data=True,
                            all_tensors_to_one_file=True, location='weights.bin', size_threshold=0)
            """
        let result = try TestEnvironment.run(python, ["-c", script, embedded.path, externalDir.path])
        #expect(result.status == 0, "\(result.stderr)")
        let external = try ONNXReader.model(contentsOf: externalDir.appendingPathComponent("model.onnx"))
        #expect(external.graph.initializers.map(\.tensor) == model.graph.initializers.map(\.tensor))
        #expect(external.graph.initializers.map(\.name) == model.graph.initializers.map(\.name))
    }
}
