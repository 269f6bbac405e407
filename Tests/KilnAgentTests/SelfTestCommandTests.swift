import Foundation
import KilnAgent
import KilnRegistry
import KilnTestSupport
import Testing

@Suite("kiln selftest: the first-contact self-test")
struct SelfTestCommandTests {
    struct Report: Decodable {
        struct Check: Decodable {
            var name: String
            var status: String
            var detail: String
            var buildSeconds: Double?
            var inferenceMilliseconds: Double?
        }
        var kiln: String
        var checks: [Check]
    }

    @Test("without TensorRT it names what is missing and where it looked, exits 4, still runs NVRTC and the reference comparison for real, and writes a report and a tarball")
    func missingTensorRTExitsFourWithReportAndTarball() throws {
        guard let nvrtc = try TestEnvironment.wheelNVRTC() else { return }
        let dir = try TestEnvironment.temporaryDirectory("kiln-selftest")
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out")
        let result = try TestEnvironment.run(TestEnvironment.kilnExecutable,
                                             ["selftest", "--output", output.path, "--frames", "3", "--cache-dir", dir.appendingPathComponent("cache").path],
                                             environment: ["KILN_LIBNVRTC": nvrtc])
        let data = try Data(contentsOf: output.appendingPathComponent("report.json"))
        let report = try JSONDecoder().decode(Report.self, from: data)
        let byName = Dictionary(uniqueKeysWithValues: report.checks.map { ($0.name, $0) })
        let tensorRT = try #require(byName["tensorrt"])
        // This machine has no libnvinfer (nor a GPU): the documented exit code and what is missing.
        try #require(tensorRT.status == "missing", "this test needs a machine without TensorRT: \(tensorRT.detail)")
        #expect(result.status == 4, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("missing: tensorrt: TensorRT not found: could not load libnvinfer (libnvinfer.so.10"), "\(result.stdout)")
        #expect(tensorRT.detail.contains("install JetPack's libnvinfer"))
        #expect(tensorRT.detail.contains("bridge: "))
        #expect(byName["tensorrt/builds"]?.status == "skipped")
        // NVRTC compiled a real kernel (for Orin's SM without a GPU here).
        let nvrtcCheck = try #require(byName["nvrtc"])
        #expect(nvrtcCheck.status == "passed", "\(nvrtcCheck.detail)")
        #expect(nvrtcCheck.detail.contains("compiled a kernel for sm_87"), "\(nvrtcCheck.detail)")
        // The comparison path ran for real on both models: passes the same model, refuses altered weights.
        for model in ["demo", "convnet"] {
            let reference = try #require(byName["reference/\(model)"])
            #expect(reference.status == "passed", "\(reference.detail)")
            #expect((reference.inferenceMilliseconds ?? 0) > 0)
            #expect(reference.detail.contains("on 3 frames"), "\(reference.detail)")
            let gate = try #require(byName["gate/\(model)"])
            #expect(gate.status == "passed", "\(gate.detail)")
            #expect(gate.detail.contains("FAIL: "), "\(gate.detail)")
        }
        #expect(!report.checks.contains { $0.status == "failed" })
        // The tarball holds the report and the log.
        let tar = try TarArchive.read([UInt8](try Data(contentsOf: output.appendingPathComponent("kiln-selftest.tar"))), source: "selftest tar")
        #expect(tar.map(\.path).sorted() == ["kiln-selftest/report.json", "kiln-selftest/selftest.log"])
        #expect(tar.first { $0.path.hasSuffix("report.json") }?.contents == [UInt8](data))
        let log = String(decoding: try Data(contentsOf: output.appendingPathComponent("selftest.log")), as: UTF8.self)
        #expect(log.contains("gate/convnet: passed"))
        #expect(log.contains("backends:"))
    }

    @Test("kiln --help documents exit code 4 and lists selftest")
    func helpDocumentsComponentMissing() throws {
        let help = try TestEnvironment.run(TestEnvironment.kilnExecutable, ["--help"])
        #expect(help.stdout.contains("4 a required component"))
        #expect(help.stdout.contains("selftest"))
        let usage = try TestEnvironment.run(TestEnvironment.kilnExecutable, ["selftest", "--frames", "0"])
        #expect(usage.status == 2)
        #expect(usage.stderr.contains("--frames"))
    }
}
