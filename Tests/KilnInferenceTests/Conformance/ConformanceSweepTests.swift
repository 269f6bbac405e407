import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnONNX
import KilnTestSupport
import Testing

/// The ONNX backend node tests (onnx==1.22.0) run through the reference backend's build → load → run.
@Suite("ONNX conformance sweep")
struct ConformanceSweepTests {
    /// The op types issue 3 requires; a test is in the sweep when all its ops are in this list.
    static let requiredOps: Set<String> = [
        "Conv", "ConvTranspose", "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf",
        "Clip", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "MatMul", "Gemm", "MaxPool", "AveragePool",
        "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "Flatten", "Reshape", "Transpose", "Concat", "Split",
        "Slice", "Resize", "Upsample", "Softmax", "Pad", "Squeeze", "Unsqueeze", "Shape", "Gather", "Constant",
        "ConstantOfShape", "Identity", "ReduceMean", "Cast", "Where", "Equal", "Range", "Expand",
    ]

    /// Test name → reason, from the checked-in skip list.
    static func skipList() throws -> [String: String] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("skip-list.txt")
        var result: [String: String] = [:]
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty || text.hasPrefix("#") { continue }
            let parts = text.split(separator: " ", maxSplits: 1)
            result[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return result
    }

    @Test("the GEMM-backed tests (conv, gemm, matmul, pooling) also pass on the AVX2 tiles, through kiln verify")
    func gemmTestsPassWithAVX2Tiles() throws {
        guard let root = try TestEnvironment.dataFile("onnx-node") else { return }
        let skips = try Self.skipList()
        var ran = 0
        var failed: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() where !name.hasSuffix("_expanded") {
            guard ["conv", "gemm", "matmul", "pool"].contains(where: { name.contains($0) }), skips[name] == nil else { continue }
            let dir = root.appendingPathComponent(name)
            let modelURL = dir.appendingPathComponent("model.onnx")
            guard let bytes = FileManager.default.contents(atPath: modelURL.path) else { continue }
            let model = try ONNXReader.model(Array(bytes))
            guard Set(model.graph.nodes.map(\.opType)).isSubset(of: Self.requiredOps),
                Set(model.graph.nodes.map(\.domain)).isSubset(of: ["", "ai.onnx"])
            else { continue }
            let result = try TestEnvironment.run(TestEnvironment.kilnExecutable, ["verify", modelURL.path, dir.path],
                                                 environment: ["KILN_REFERENCE_AVX512": "0"])
            ran += 1
            if result.status != 0 { failed.append("\(name): \(result.stdout)\(result.stderr)") }
        }
        print("conformance on AVX2 tiles: \(ran - failed.count) of \(ran) passed")
        #expect(ran > 40)
        #expect(failed.isEmpty, "\(failed)")
    }

    @Test("every in-scope ONNX node test passes kiln's tolerance, except the skip list")
    func sweepPassesExceptSkipList() throws {
        guard let root = try TestEnvironment.dataFile("onnx-node") else { return }
        let skips = try Self.skipList()
        let filter = ProcessInfo.processInfo.environment["KILN_CONFORMANCE_FILTER"]
        let backend = ReferenceBackend()
        let options = BuildOptions(threads: 2)
        let verifier = GoldenVerifier()
        var passed: [String] = [], failed: [String] = [], skipped: [String] = [], stale: [String] = []
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        for name in names where !name.hasSuffix("_expanded") {
            if let filter, !name.contains(filter) { continue }
            let dir = root.appendingPathComponent(name)
            let modelURL = dir.appendingPathComponent("model.onnx")
            guard let bytes = FileManager.default.contents(atPath: modelURL.path) else { continue }
            let model = try ONNXReader.model(Array(bytes))
            let ops = Set(model.graph.nodes.map(\.opType))
            let domains = Set(model.graph.nodes.map(\.domain))
            guard ops.isSubset(of: Self.requiredOps), domains.isSubset(of: ["", "ai.onnx"]) else { continue }
            var problem: String?
            do {
                let artifact = try backend.build(model: ModelSource(bytes: Array(bytes), name: name), options: options)
                let runner = try backend.load(artifact, options: options)
                let cases = try GoldenVerifier.loadCases([dir])
                for result in try verifier.verify(runner: runner, cases: cases) where !result.passed {
                    let bad = result.outputs.filter { !$0.passed }
                        .map { "\($0.name): \($0.problem ?? "") maxAbs \($0.maxAbsoluteError) maxRel \($0.maxRelativeError)" }
                    problem = "\(result.directory.lastPathComponent): " + bad.joined(separator: "; ")
                    break
                }
            } catch {
                problem = "\(error)"
            }
            if skips[name] != nil {
                skipped.append(name)
                if problem == nil { stale.append(name) }
            } else if let problem {
                failed.append("\(name): \(problem)")
            } else {
                passed.append(name)
            }
        }
        print("conformance: \(passed.count) passed, \(skipped.count) skipped (skip list), \(failed.count) failed")
        for f in failed { print("conformance FAIL \(f)") }
        for s in stale { print("conformance: skip-listed test now passes: \(s)") }
        #expect(failed.isEmpty, "\(failed.count) conformance failures (listed above as `conformance FAIL`)")
        #expect(stale.isEmpty, "skip-listed tests that pass (remove them from skip-list.txt): \(stale)")
        if filter == nil { #expect(passed.count > 250) }
    }
}
