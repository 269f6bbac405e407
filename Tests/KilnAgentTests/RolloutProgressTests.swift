import Foundation
import Glibc
import KilnAgent
import KilnCore
import KilnInference
import KilnONNX
import KilnTensorRT
import KilnTestSupport
import Testing

/// A gated rollout of a real model (ddddocr's 20 MB YOLOX detector) under `kiln run --follow`: while it runs,
/// `/status` and the metrics name each step (the reference build with its passes, the gate,
/// probation with its time left), scraped mid-step.
@Suite(.serialized) struct RolloutProgressTests {
    /// Golden data for a model with one input: a ramp image through the reference backend.
    static func golden(for model: [UInt8], in dir: URL) throws -> String {
        let backend = try BackendCatalog.standard(engineBuildChild: EngineBuildChildCommand(executable: "/bin/false", arguments: [])).select("reference")
        let artifact = try backend.build(model: ModelSource(bytes: model, name: "golden"), options: BuildOptions())
        let runner = try backend.load(artifact, options: BuildOptions())
        let input = try #require(runner.inputs.first), output = try #require(runner.outputs.first)
        let shape = input.shape.map { $0 ?? 1 }
        let count = shape.reduce(1, *)
        let tensor = Tensor(shape: shape, floats: (0..<count).map { Float($0 % 251) / 251 - 0.5 })
        let result = try #require(try runner.run([input.name: tensor])[output.name])
        let set = dir.appendingPathComponent("test_data_set_0")
        try FileManager.default.createDirectory(at: set, withIntermediateDirectories: true)
        try Data(ONNXWriter.serialize(ONNXTensor(name: input.name, tensor: tensor))).write(to: set.appendingPathComponent("input_0.pb"))
        try Data(ONNXWriter.serialize(ONNXTensor(name: output.name, tensor: result))).write(to: set.appendingPathComponent("output_0.pb"))
        return dir.path
    }

    @Test func gatedRolloutShowsBuildGateAndProbationInStatusAndMetricsWhileTheyRun() async throws {
        guard let detector = try TestEnvironment.dataFile("models/common_det.onnx") else { return }
        try await RegistryServer.withScratch(directory: "kiln-rollout-progress") { registry, dir in
            let kiln = TestEnvironment.kilnExecutable
            let tag = try FleetTag("progress", on: registry, in: dir)
            let ref = tag.text
            let digestA = try tag.publish(DemoModel.bytes(), "a")
            let stateDir = dir.appendingPathComponent("state")
            let port = try LoopbackServer.freePort()
            let arguments = tag.followArguments(stateDirectory: stateDir, ["--probation", "3s", "--metrics-addr", "127.0.0.1:\(port)"])
            let agent = try AgentProcess(kiln, arguments, log: dir.appendingPathComponent("agent.log"))
            defer { agent.kill() }
            try RolloutEndToEndTests.waitFor("A active", timeout: 60) { RolloutEndToEndTests.state(stateDir)?.active?.digest.description == digestA }

            // B: a real model with golden data and an SLO, so it is built, gated (golden case and timed runs) and on probation.
            let b = try Data(contentsOf: detector)
            let golden = try Self.golden(for: Array(b), in: dir.appendingPathComponent("golden-b"))
            try b.write(to: dir.appendingPathComponent("b.onnx"))
            let published = try TestEnvironment.run(kiln, ["publish", dir.appendingPathComponent("b.onnx").path, "--to", ref,
                                                           "--insecure-registry", registry.host, "--golden", golden, "--slo-p99", "10s"])
            try #require(published.status == 0, "\(published.stderr)")
            let digestB = published.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            agent.signal(SIGHUP)

            var statusSteps = Set<String>(), metricSteps = Set<String>(), buildPhases = Set<String>(), probationLeft: [Double] = []
            let deadline = MonotonicClock.now + 180
            while MonotonicClock.now < deadline {
                if let data = try? Data(contentsOf: URL(string: "http://127.0.0.1:\(port)/status")!),
                   let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                    for step in object["progress"] as? [[String: Any]] ?? [] {
                        guard let name = step["step"] as? String else { continue }
                        statusSteps.insert(name)
                        if name == "build", let phase = step["phase"] as? String { buildPhases.insert(phase) }
                        if name == "probation", let left = (step["eta_seconds"] as? NSNumber)?.doubleValue { probationLeft.append(left) }
                    }
                    let rollout = object["rollout"] as? [String: Any]
                    if (rollout?["active"] as? [String: Any])?["digest"] as? String == digestB, rollout?["phase"] as? String == "idle" { break }
                }
                if let text = try? String(contentsOf: URL(string: "http://127.0.0.1:\(port)/metrics")!, encoding: .utf8) {
                    for step in ["pull", "build", "gate", "probation"] where text.contains("kiln_rollout_step{step=\"\(step)\"} 1") {
                        metricSteps.insert(step)
                    }
                    if text.contains("kiln_build_phase{backend=\"reference\"") { metricSteps.insert("build_phase") }
                }
                usleep(20_000)
            }
            let state = try #require(RolloutEndToEndTests.state(stateDir))
            #expect(state.active?.digest.description == digestB, "B was committed after probation")
            #expect(statusSteps.isSuperset(of: ["build", "gate", "probation"]), "/status mid-step: \(statusSteps)")
            #expect(metricSteps.isSuperset(of: ["build", "gate", "probation", "build_phase"]), "metrics mid-step: \(metricSteps)")
            #expect(!buildPhases.isDisjoint(with: ["parsing ONNX", "folding constants", "inferring shapes", "packing weights", "serializing"]),
                    "\(buildPhases)")
            #expect(probationLeft.count >= 3 && probationLeft.first! > probationLeft.last!, "probation counted down: \(probationLeft)")
            // Afterwards: no step runs, and the build was recorded by backend and outcome.
            let after = try String(contentsOf: URL(string: "http://127.0.0.1:\(port)/metrics")!, encoding: .utf8)
            #expect(!["pull", "build", "gate", "probation"].contains { after.contains("kiln_rollout_step{step=\"\($0)\"} 1") })
            #expect(after.contains("kiln_build_seconds_count{backend=\"reference\",outcome=\"succeeded\"} "), "\(after.prefix(3000))")
            _ = try agent.stop()
        }
    }
}
