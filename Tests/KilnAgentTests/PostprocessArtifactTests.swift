import Foundation
import KilnAgent
import KilnTestSupport
import Testing

/// Postprocessing shipped with the model: `kiln publish --postprocess … --conf … --labels …`
/// puts method, thresholds and labels in the artifact; `kiln run` of the pulled artifact uses
/// them (checked against the numpy oracle at the shipped threshold), and its own flags win.
@Suite struct PostprocessArtifactTests {
    @Test func aPulledArtifactDecodesWithItsShippedSettingsAndLabelsAndFlagsWin() throws {
        guard let f = try DetectorModelTests.fixture(conf: 0.3, iou: 0.45) else { return }
        defer { try? FileManager.default.removeItem(at: f.dir) }
        #expect(f.expected.map(\.count).reduce(0, +) > 5, "the frames must hold detections at conf 0.3")
        let labels = f.dir.appendingPathComponent("labels.txt")
        try "text\n".write(to: labels, atomically: true, encoding: .utf8)
        let layout = f.dir.appendingPathComponent("layout").path
        let published = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
            "publish", f.model.path, "--to", "oci:\(layout):v1", "--preprocess", DetectorModelTests.ddddocrPreprocess,
            "--postprocess", "yolo", "--conf", "0.3", "--iou", "0.45", "--agnostic-nms", "--labels", labels.path,
        ])
        try #require(published.status == 0, "\(published.stderr)")

        func run(_ extra: [String]) throws -> [[[String: Any]]] {
            let results = f.dir.appendingPathComponent("results-\(UUID().uuidString.prefix(6)).jsonl")
            let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
                "run", "oci:\(layout):v1", "--source", "raw:\(f.frames.path):416x416", "--backend", "reference",
                "--report-interval", "0", "--cache-dir", f.dir.appendingPathComponent("cache").path,
                "--store", f.dir.appendingPathComponent("store").path, "--results", "file:\(results.path)",
            ] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            return try String(contentsOf: results, encoding: .utf8).split(separator: "\n").map { line in
                let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                return (o["detections"] as? [[String: Any]]) ?? []
            }
        }
        // No postprocessing flags: the artifact's method, threshold, NMS and labels.
        let shipped = try run([])
        #expect(shipped.count == f.expected.count)
        for (got, expected) in zip(shipped, f.expected) {
            #expect(got.count == expected.count, "kiln \(got.count) boxes, numpy \(expected.count) at conf 0.3")
            for (g, e) in zip(got, expected) {
                #expect(abs((g["score"] as? Double ?? -1) - (e["score"] as? Double ?? 1)) < 1e-3, "\(g) vs \(e)")
                #expect(g["label"] as? String == "text")
            }
        }
        // The device's own flag wins over the shipped threshold.
        let lower = try run(["--conf", "0.1"])
        let shippedCount = shipped.map(\.count).reduce(0, +), lowerCount = lower.map(\.count).reduce(0, +)
        #expect(lowerCount > shippedCount, "conf 0.1: \(lowerCount) boxes, shipped 0.3: \(shippedCount)")
        #expect(lower.joined().contains { ($0["score"] as? Double ?? 1) < 0.3 })
        #expect(lower.joined().allSatisfy { $0["label"] as? String == "text" })
    }

    @Test func publishRefusesAnUnknownMethodAndAnUnreadableLabelsFile() throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("demo.onnx")
        try Data(DemoModel.bytes()).write(to: model)
        let unknown = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
            "publish", model.path, "--to", "oci:\(dir.path)/l:v1", "--postprocess", "yolov9"])
        #expect(unknown.status == 2, "\(unknown.stderr)")
        #expect(unknown.stderr.contains("--postprocess yolov9"), "\(unknown.stderr)")
        let missing = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
            "publish", model.path, "--to", "oci:\(dir.path)/l:v1", "--postprocess", "topk:1", "--labels", "\(dir.path)/none.txt"])
        #expect(missing.status == 2, "\(missing.stderr)")
        #expect(missing.stderr.contains("none.txt"), "\(missing.stderr)")
    }
}
