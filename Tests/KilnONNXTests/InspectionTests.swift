import Foundation
import KilnCore
@testable import KilnONNX
import KilnTestSupport
import Testing

/// `ModelInspection` and `kiln inspect`: the pre-flight report on a model.
@Suite struct InspectionTests {
    /// The demo net plus a `Foo` node named n12 that no backend implements.
    func modelWithUnsupportedNode() -> ONNXModel {
        var model = DemoNet.model()
        var b = ONNXGraphBuilder(name: "x")
        _ = b.node("Foo", ["probabilities"], output: "foo_out", name: "n12")
        model.graph.nodes += b.graph.nodes
        model.graph.outputs.append(.tensor("foo_out", .float32, [nil, 10], names: ["batch", nil]))
        return model
    }

    @Test func reportListsInterfaceOpsParametersAndUnsupportedNodes() {
        let report = ModelInspection(model: modelWithUnsupportedNode(), backends: [
            "reference": ModelInspection.supporting(ModelInspection.referenceBackendOps, minimumOpset: 9),
            "everything": { _, _ in true },
        ])
        #expect(report.inputs == [.init(name: "image", type: "float32", shape: [.named("batch"), .fixed(3), .fixed(32), .fixed(32)])])
        #expect(report.ops["Conv"] == 2)
        #expect(report.ops["Foo"] == 1)
        #expect(report.nodes == 10)
        #expect(report.parameters.count == 8 * 27 + 8 + 16 * 72 + 160 + 10)
        #expect(report.parameters.bytes == 4 * report.parameters.count)
        #expect(report.parameters.types == ["float32": 5])
        #expect(report.support["reference"]?.unsupported == [.init(op: "Foo", node: "n12")])
        #expect(report.support["everything"]?.unsupported == [])
        #expect(report.text(title: "m").contains("reference: unsupported Foo at node n12"))
        #expect(report.opsets == [.init(domain: "ai.onnx", version: 17)])
    }

    @Test func opsetBelowTheBackendMinimumIsUnsupported() {
        var model = DemoNet.model()
        model.opsetImports = ["": 7]
        let report = ModelInspection(model: model, backends: ["reference": ModelInspection.supporting(ModelInspection.referenceBackendOps, minimumOpset: 9)])
        #expect(report.support["reference"]?.unsupported.count == model.graph.nodes.count)
    }

    @Test func kilnInspectPrintsTextAndJSONAndUsesDocumentedExitCodes() throws {
        let kiln = TestEnvironment.kilnExecutable
        guard FileManager.default.isExecutableFile(atPath: kiln) else {
            if TestEnvironment.isCI { Issue.record("kiln executable missing at \(kiln)") }
            return
        }
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("m.onnx")
        try Data(ONNXWriter.serialize(modelWithUnsupportedNode())).write(to: model)

        let text = try TestEnvironment.run(kiln, ["inspect", model.path])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("image: float32 [batch, 3, 32, 32]"))
        #expect(text.stdout.contains("reference: unsupported Foo at node n12"))

        let json = try TestEnvironment.run(kiln, ["inspect", model.path, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let support = (object?["support"] as? [String: Any])?["reference"] as? [String: Any]
        let unsupported = support?["unsupported"] as? [[String: String]]
        #expect(unsupported == [["op": "Foo", "node": "n12"]])
        let shape = ((object?["inputs"] as? [[String: Any]])?.first?["shape"]) as? [Any]
        #expect(shape?.first as? String == "batch")

        let garbage = dir.appendingPathComponent("bad.onnx")
        try Data([0x0A, 0xFF, 0xFF, 0x01]).write(to: garbage)
        let bad = try TestEnvironment.run(kiln, ["inspect", garbage.path])
        #expect(bad.status == 3)
        #expect(bad.stderr.contains("at byte"))
        #expect(try TestEnvironment.run(kiln, ["inspect"]).status == 2)
        #expect(try TestEnvironment.run(kiln, ["inspect", dir.appendingPathComponent("none.onnx").path]).status == 2)
        #expect(try TestEnvironment.run(kiln, ["inspect", model.path, "--bogus"]).status == 2)
    }

    @Test func everyConformanceModelCanBeInspected() throws {
        guard let node = try ConformanceData.nodeDirectory() else { return }
        var unsupported = 0
        for testCase in try ConformanceData.cases(in: node) {
            let model = try ONNXReader.model(contentsOf: testCase.appendingPathComponent("model.onnx"))
            let report = ModelInspection(model: model, backends: ["reference": ModelInspection.supporting(ModelInspection.referenceBackendOps, minimumOpset: 9)])
            #expect(report.nodes == model.graph.nodes.count)
            #expect(!report.json().isEmpty)
            if !(report.support["reference"]?.unsupported.isEmpty ?? true) { unsupported += 1 }
        }
        #expect(unsupported > 100)  // e.g. Loop, If, LSTM cases
    }
}

/// Non-tensor values are described in words, not hidden.
@Suite struct TypeDescriptionTests {
    @Test func sequenceMapAndOptionalTypesAreDescribed() throws {
        var w = WireWriter()
        // sequence<map<int64, tensor float32>>
        w.message(4) { s in s.message(1) { t in t.message(5) { m in m.int64(1, 7); m.message(2) { v in v.message(1) { e in e.int64(1, 1) } } } } }
        #expect(ONNXValueInfo(name: "p", descriptor: nil, typeProto: w.bytes).typeDescription == "sequence<map<int64, float32>>")
        var o = WireWriter()
        o.message(9) { s in s.message(1) { t in t.message(4) { q in q.message(1) { e in e.message(1) { x in x.int64(1, 6) } } } } }
        #expect(ONNXValueInfo(name: "o", descriptor: nil, typeProto: o.bytes).typeDescription == "optional<sequence<int32>>")
        var u = WireWriter()
        u.message(1) { t in t.int64(1, 10) }
        #expect(ONNXValueInfo(name: "u", descriptor: nil, typeProto: u.bytes).typeDescription == "float16 (unknown rank)")
        #expect(ONNXValueInfo(name: "n", descriptor: nil).typeDescription == "unknown")
        #expect(ONNXValueInfo(name: "g", descriptor: nil, typeProto: [0x0A, 0xFF]).typeDescription == "unknown")
    }
}
