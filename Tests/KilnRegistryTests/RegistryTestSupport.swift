import Foundation
import KilnCore
import KilnONNX
import KilnRegistry
import KilnTestSupport

/// Helpers shared by the registry suites.
enum Fixtures {
    /// A file of `size` pseudo-random bytes standing in for model weights (transport tests
    /// care about bytes, not ONNX structure).
    static func modelFile(in dir: URL, name: String = "model.onnx", size: Int, seed: UInt64) throws -> String {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        var bytes = [UInt8](repeating: 0, count: size)
        for i in 0..<size {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes[i] = UInt8(truncatingIfNeeded: state >> 33)
        }
        let path = dir.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A valid ONNX model (one Add of an input and a `floats`-element constant) of about
    /// 4 × `floats` bytes, for commands that check their input is ONNX.
    static func onnxModel(in dir: URL, name: String = "model.onnx", floats: Int, seed: UInt64) throws -> String {
        var state = seed
        let values = (0..<floats).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24)
        }
        let graph = ONNXGraph(
            name: "fixture",
            nodes: [ONNXNode(name: "add", opType: "Add", inputs: ["x", "w"], outputs: ["y"])],
            initializers: [ONNXTensor(name: "w", tensor: Tensor(shape: [floats], floats: values))],
            inputs: [.tensor("x", .float32, [floats])],
            outputs: [.tensor("y", .float32, [floats])])
        let path = dir.appendingPathComponent(name).path
        try Data(ONNXWriter.serialize(ONNXModel(graph: graph))).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A golden directory with one test_data_set.
    static func goldenDirectory(in dir: URL) throws -> String {
        let golden = dir.appendingPathComponent("golden/test_data_set_0")
        try FileManager.default.createDirectory(at: golden, withIntermediateDirectories: true)
        try Data([8, 1, 16, 1]).write(to: golden.appendingPathComponent("input_0.pb"))
        try Data([8, 1, 16, 1, 1]).write(to: golden.appendingPathComponent("output_0.pb"))
        return dir.appendingPathComponent("golden").path
    }

    static func client(_ server: RegistryServer, auth: AuthFile = AuthFile(), chunkSize: Int = 8 << 20,
                       retry: RetryPolicy = RetryPolicy(attempts: 4, base: 0.05, cap: 0.2), extraHosts: [String] = []) -> RegistryClient {
        RegistryClient(configuration: .init(auth: auth, insecureHosts: Set([server.host] + extraHosts), retry: retry, chunkSize: chunkSize))
    }

    static func authFile(in dir: URL, host: String, user: String, password: String) throws -> AuthFile {
        let path = dir.appendingPathComponent("auth.json").path
        let auth = Data("\(user):\(password)".utf8).base64EncodedString()
        try #"{"auths": {"\#(host)": {"auth": "\#(auth)"}}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        return try AuthFile.load(explicitPath: path)
    }

    /// Publishes a model through the library; returns the manifest digest.
    static func publish(_ model: String, to ref: String, client: RegistryClient, work: URL, golden: String? = nil,
                        annotations: KilnAnnotations = KilnAnnotations()) async throws -> Digest {
        let artifact = try ModelArtifactBuilder(modelPath: model, goldenDirectory: golden, annotations: annotations, name: nil,
                                                workDirectory: work.appendingPathComponent("staging-\(UUID().uuidString)").path)
        return try await ModelPublisher(client: client).publish(artifact, to: try ModelReference(parsing: ref))
    }

    static func sha256(file: String) throws -> String { try FileDigest.of(path: file).digest.description }
}

