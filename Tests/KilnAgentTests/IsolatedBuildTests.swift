import Foundation
import Glibc
import KilnAgent
import KilnCore
import KilnONNX
import KilnRegistry
import KilnRollout
import KilnTestSupport
import Testing

/// Nothing a model does can kill the agent: builds of every backend and a rollout candidate's
/// first inferences run in an isolated child under a memory limit, with real models that truly
/// exhaust it (valid ONNX, which serve fine with more memory).
@Suite(.serialized) struct IsolatedBuildTests {
    /// An int64 constant.
    static func int64s(_ name: String, _ values: [Int64]) -> ONNXTensor {
        ONNXTensor(name: name, tensor: Tensor(elementType: .int64, shape: [values.count],
                                              bytes: values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }))
    }

    /// The demo model whose final bias is `fc_b + mean(extra)`, where `extra` is a zero scalar
    /// expanded by `nodes` to a large tensor: the answers are the demo's, the memory is not.
    static func demo(adding extra: [ONNXNode], initializers: [ONNXTensor], name: String) -> [UInt8] {
        var model = DemoModel.model()
        model.graph.nodes.insert(contentsOf: extra + [
            ONNXNode(name: "big_mean", opType: "ReduceMean", inputs: ["big"], outputs: ["big_mean"], attributes: ["keepdims": .int(0)]),
            ONNXNode(name: "bias", opType: "Add", inputs: ["fc_b", "big_mean"], outputs: ["fc_b_plus"]),
        ], at: 0)
        if let gemm = model.graph.nodes.firstIndex(where: { $0.opType == "Gemm" }) { model.graph.nodes[gemm].inputs[2] = "fc_b_plus" }
        model.graph.initializers += initializers
        model.graph.name = name
        return ONNXWriter.serialize(model)
    }

    /// A constant zero expanded to `shape` ([512, 1024, 16] floats: 32 MiB, and twice that while it is
    /// computed)): the reference build's shape inference runs the graph once, so the build allocates it.
    static func hugeAtBuild(shape: [Int64] = [512, 1024, 16]) -> [UInt8] {
        demo(adding: [ONNXNode(name: "expand", opType: "Expand", inputs: ["zero", "big_shape"], outputs: ["big"])],
             initializers: [ONNXTensor(name: "zero", tensor: Tensor(shape: [1], floats: [0])), int64s("big_shape", shape)],
             name: "huge_at_build")
    }

    /// `Range(0, min(mean(image) · 10^12, elements) + 1)`: one element on the zeros a build or a
    /// zero warm-up feeds, `elements` floats on any real picture: the first inference of a frame
    /// with something in it allocates them.
    static func hugeOnBrightFrames(elements: Float) -> [UInt8] {
        func scalar(_ name: String, _ v: Float) -> ONNXTensor { ONNXTensor(name: name, tensor: Tensor(shape: [], floats: [v])) }
        return demo(adding: [
            ONNXNode(name: "brightness", opType: "ReduceMean", inputs: ["image"], outputs: ["brightness"], attributes: ["keepdims": .int(0)]),
            ONNXNode(name: "scaled", opType: "Mul", inputs: ["brightness", "k"], outputs: ["scaled"]),
            ONNXNode(name: "clipped", opType: "Clip", inputs: ["scaled", "zero", "most"], outputs: ["clipped"]),
            ONNXNode(name: "limit", opType: "Add", inputs: ["clipped", "one"], outputs: ["limit"]),
            ONNXNode(name: "range", opType: "Range", inputs: ["zero", "limit", "one"], outputs: ["big"]),
        ], initializers: [scalar("k", 1e12), scalar("zero", 0), scalar("one", 1), scalar("most", elements)],
           name: "huge_on_bright_frames")
    }

    /// Golden data for the demo's input and output: a bright square, and an answer never compared
    /// (the candidate dies computing it).
    static func brightGolden(in dir: URL) throws -> String {
        var pixels = [Float](repeating: 0, count: 3 * 128 * 128)
        for c in 0..<3 { for y in 10..<40 { for x in 10..<40 { pixels[c * 128 * 128 + y * 128 + x] = 1 } } }
        let set = dir.appendingPathComponent("test_data_set_0")
        try FileManager.default.createDirectory(at: set, withIntermediateDirectories: true)
        try Data(ONNXWriter.serialize(ONNXTensor(name: "image", tensor: Tensor(shape: [1, 3, 128, 128], floats: pixels))))
            .write(to: set.appendingPathComponent("input_0.pb"))
        try Data(ONNXWriter.serialize(ONNXTensor(name: "quadrant", tensor: Tensor(shape: [1, 4], floats: [1, 0, 0, 0]))))
            .write(to: set.appendingPathComponent("output_0.pb"))
        return dir.path
    }

    @Test func aReferenceBuildThatExhaustsItsMemoryLimitEndsTheChildWithTheReasonNotKiln() throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-isolated")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("huge_at_build.onnx")
        try Data(Self.hugeAtBuild()).write(to: model)
        func run(_ limit: String) throws -> (status: Int32, stdout: String, stderr: String) {
            try TestEnvironment.run(TestEnvironment.kilnExecutable, [
                "run", model.path, "--backend", "reference", "--build-memory-limit", limit, "--frames", "1", "--threads", "1",
                "--source", "synthetic:160x120@30", "--report-interval", "0", "--cache-dir", dir.appendingPathComponent("cache-\(limit)").path])
        }
        let starved = try run("32M")
        #expect(starved.status == 3, "\(starved.stderr.suffix(1500))")
        #expect(starved.stderr.contains("reference engine build of \(model.path)"), "\(starved.stderr.suffix(1500))")
        #expect(starved.stderr.contains("isolated child under a 32 MiB memory limit"), "\(starved.stderr.suffix(1500))")
        #expect(starved.stderr.contains("--build-memory-limit"), "\(starved.stderr.suffix(1500))")
        #expect(starved.stderr.contains("failed to allocate") || starved.stderr.contains("signal") || starved.stderr.contains("SIGKILL"),
                "the child's own last words are in the message: \(starved.stderr.suffix(1500))")
        // The same model builds and serves with room: the limit stopped it, in the child.
        let roomy = try run("1G")
        #expect(roomy.status == 0, "\(roomy.stderr.suffix(1500))")
        #expect(roomy.stdout.contains("frames"), "\(roomy.stdout)")
    }

    @Test func aFollowedTagMovingToModelsThatExhaustTheBuildOrTheFirstInferenceKeepsTheAgentServing() async throws {
        try await RegistryServer.withScratch(directory: "kiln-isolated-rollout") { registry, dir in
            let tag = try FleetTag("isolated", on: registry, in: dir)
            let ref = tag.text
            let stateDir = dir.appendingPathComponent("state")
            func state() -> RolloutState? { RolloutEndToEndTests.state(stateDir) }
            let digestA = try tag.publish(DemoModel.bytes(), "a")
            let arguments = tag.followArguments(stateDirectory: stateDir, source: "synthetic:160x120@30",
                                                ["--probation", "1s", "--build-memory-limit", "200M"])
            let agent = try AgentProcess(TestEnvironment.kilnExecutable, arguments, log: dir.appendingPathComponent("agent.log"))
            defer { agent.kill() }
            try RolloutEndToEndTests.waitFor("A active", timeout: 90) { state()?.active?.digest.description == digestA }
            /// Makes the agent poll now (SIGHUP) and waits until it refuses `digest`; the refusal.
            func refusal(of digest: String, _ what: String) throws -> RolloutState.Rejection {
                agent.signal(SIGHUP)
                try RolloutEndToEndTests.waitFor(what, timeout: 120) { state()?.rejected.contains { $0.digest.description == digest } == true }
                return try #require(state()?.rejected.first { $0.digest.description == digest })
            }

            // (a) The build exhausts the child's memory: refused as a failed build.
            let digestBuild = try tag.publish(Self.hugeAtBuild(shape: [2048, 2048, 16]), "huge-build")
            let buildRefusal = try refusal(of: digestBuild, "the build-exhausting model refused")
            #expect(buildRefusal.kind == .buildFailed, "\(buildRefusal)")
            #expect(buildRefusal.reason.contains("isolated child") && buildRefusal.reason.contains("200 MiB"), "\(buildRefusal.reason)")
            #expect(agent.process.isRunning, "the agent survived the build")

            // (b) The first inference exhausts the trial child's memory: refused at the gate.
            try Data(Self.hugeOnBrightFrames(elements: 1e8)).write(to: dir.appendingPathComponent("huge-infer.onnx"))
            let golden = try Self.brightGolden(in: dir.appendingPathComponent("golden"))
            let published = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
                "publish", dir.appendingPathComponent("huge-infer.onnx").path, "--to", ref, "--insecure-registry", registry.host, "--golden", golden])
            try #require(published.status == 0, "\(published.stderr)")
            let digestInfer = published.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let gateRefusal = try refusal(of: digestInfer, "the inference-exhausting model refused")
            #expect(gateRefusal.kind == .gateFailed, "\(gateRefusal)")
            #expect(gateRefusal.reason.contains("first inferences") && gateRefusal.reason.contains("isolated child"), "\(gateRefusal.reason)")
            #expect(state()?.active?.digest.description == digestA)
            #expect(!(state()?.transitions.contains { $0.digest?.description == digestInfer && $0.phase == .swapping } ?? true),
                    "never swapped in")

            // The old model kept serving through both: same process, A in the report, frames served.
            #expect(agent.process.isRunning)
            let report = try agent.stop()
            #expect(agent.process.terminationStatus == 0)
            #expect((report["model"] as? [String: Any])?["digest"] as? String == Digest.of(DemoModel.bytes()).description)
            #expect((report["frames"] as? Int ?? 0) > 0, "\(report)")
        }
    }

    /// A bad model published to the followed tag passes the gate (its zero warm-up is harmless)
    /// and then, on the first real frame, takes more memory than the device has (the agent runs
    /// under `ulimit -v`, a small board's stand-in): the agent dies in probation. Restarted the way
    /// systemd's `Restart=on-failure` does, it refuses that digest and serves the old model: at
    /// most 2 abnormal exits, not a restart loop.
    @Test func aModelThatKillsTheAgentInProbationIsRefusedAfterOneCrashAndTheOldModelServes() async throws {
        try await RegistryServer.withScratch(directory: "kiln-restart-loop") { registry, dir in
            let tag = try FleetTag("restart", on: registry, in: dir)
            let stateDir = dir.appendingPathComponent("state")
            func state() -> RolloutState? { RolloutEndToEndTests.state(stateDir) }
            let digestA = try tag.publish(DemoModel.bytes(), "a")
            let arguments = tag.followArguments(stateDirectory: stateDir, source: "synthetic:160x120@30", ["--probation", "2s"])
            // What systemd would run: the agent under a 4 GB address-space limit.
            func start(_ extra: [String], _ n: Int) throws -> AgentProcess {
                try AgentProcess("/bin/sh", ["-c", "ulimit -v 4000000; exec \"$0\" \"$@\"", TestEnvironment.kilnExecutable] + arguments + extra,
                                 log: dir.appendingPathComponent("run\(n).log"))
            }
            let first = try start([], 1)
            defer { first.kill() }
            try RolloutEndToEndTests.waitFor("A active", timeout: 90) { state()?.active?.digest.description == digestA }
            let digestBad = try tag.publish(Self.hugeOnBrightFrames(elements: 1.5e9), "bad")
            first.signal(SIGHUP)
            try RolloutEndToEndTests.waitFor("the agent to die on the bad model", timeout: 120) { !first.process.isRunning }
            var abnormal = first.process.terminationReason == .uncaughtSignal || first.process.terminationStatus != 0 ? 1 : 0
            #expect(abnormal == 1, "the bad model was expected to kill the agent in probation")
            #expect(state()?.trial?.digest.description == digestBad, "it died with the bad model on trial")

            // Restart on failure, as systemd would, until a run ends cleanly (a minute at most).
            var report: [String: Any]?
            for n in 2...6 where report == nil {
                let run = try start(["--duration", "4s"], n)
                defer { run.kill() }
                if let r = try? run.wait(timeout: 90), run.process.terminationStatus == 0 { report = r } else { abnormal += 1 }
            }
            #expect(abnormal <= 2, "\(abnormal) abnormal exits")
            let served = try #require(report, "no run ended cleanly")
            #expect((served["model"] as? [String: Any])?["digest"] as? String == Digest.of(DemoModel.bytes()).description, "A serves again")
            let after = try #require(state())
            #expect(after.active?.digest.description == digestA)
            let refusal = try #require(after.rejected.first { $0.digest.description == digestBad })
            #expect(refusal.kind == .crashed && refusal.reason.contains("crashed while in probation"), "\(refusal)")
            let status = try TestEnvironment.run(TestEnvironment.kilnExecutable, ["status", "--state-dir", stateDir.path])
            #expect(status.stdout.contains("crashed while in probation"), "\(status.stdout)")
        }
    }
}
