import Foundation
import Glibc
import KilnAgent
import KilnCore
import KilnInference
import KilnTensorRT
import KilnONNX
import KilnRegistry
import KilnRollout
import KilnTestSupport
import Testing

/// `kiln run --follow` against a real registry: A serves; the tag moves to B → B is active with
/// no frame dropped; the tag moves to C whose golden data fails → C is refused and B keeps
/// serving; a restart comes back on B.
@Suite(.serialized) struct RolloutEndToEndTests {
    /// The demo model with another final bias: same input and output, different answers.
    static func variant(bias: [Float]) -> [UInt8] {
        var model = DemoModel.model()
        if let i = model.graph.initializers.firstIndex(where: { $0.name == "fc_b" }) {
            model.graph.initializers[i] = ONNXTensor(name: "fc_b", tensor: Tensor(shape: [4], floats: bias))
        }
        return ONNXWriter.serialize(model)
    }

    /// Golden data for `model`: one input (a bright square in the top-left quadrant) and the
    /// reference backend's output for it.
    static func golden(for model: [UInt8], in dir: URL) throws -> String {
        let backend = try BackendCatalog.standard(engineBuildChild: EngineBuildChildCommand(executable: "/bin/false", arguments: [])).select("reference")
        let artifact = try backend.build(model: ModelSource(bytes: model, name: "golden"), options: BuildOptions())
        let runner = try backend.load(artifact, options: BuildOptions())
        var pixels = [Float](repeating: 0, count: 3 * 128 * 128)
        for c in 0..<3 { for y in 10..<40 { for x in 10..<40 { pixels[c * 128 * 128 + y * 128 + x] = 1 } } }
        let input = Tensor(shape: [1, 3, 128, 128], floats: pixels)
        let output = try #require(try runner.run(["image": input])["quadrant"])
        let set = dir.appendingPathComponent("test_data_set_0")
        try FileManager.default.createDirectory(at: set, withIntermediateDirectories: true)
        try Data(ONNXWriter.serialize(ONNXTensor(name: "image", tensor: input))).write(to: set.appendingPathComponent("input_0.pb"))
        try Data(ONNXWriter.serialize(ONNXTensor(name: "quadrant", tensor: output))).write(to: set.appendingPathComponent("output_0.pb"))
        return dir.path
    }

    static func state(_ dir: URL) -> RolloutState? {
        try? RolloutStateStore(directory: dir.path).load()
    }

    static func waitFor(_ what: String, timeout: Double, _ condition: () -> Bool) throws {
        let deadline = MonotonicClock.now + timeout
        while MonotonicClock.now < deadline {
            if condition() { return }
            usleep(100_000)
        }
        throw TestEnvironment.SetupError("timed out after \(timeout) s waiting for \(what)")
    }

    @Test func followRollsOutBRefusesFailingCAndRestartsOnB() async throws {
        try await RegistryServer.withScratch(directory: "kiln-rollout") { registry, dir in
            let kiln = TestEnvironment.kilnExecutable
            let a = DemoModel.bytes(), b = Self.variant(bias: [0.5, 0, 0, 0]), c = Self.variant(bias: [-300, 300, 0, 0])
            for (name, bytes) in [("a", a), ("b", b), ("c", c)] {
                try Data(bytes).write(to: dir.appendingPathComponent("\(name).onnx"))
            }
            // B's golden data is B's own output; C ships the same golden data, which C does not reproduce.
            let goldenB = try Self.golden(for: b, in: dir.appendingPathComponent("golden-b"))
            let tag = try FleetTag("demo", on: registry, in: dir)
            let ref = tag.text
            func publish(_ name: String, _ extra: [String]) throws -> String {
                let r = try TestEnvironment.run(kiln, ["publish", dir.appendingPathComponent("\(name).onnx").path, "--to", ref,
                                                       "--insecure-registry", registry.host] + extra)
                guard r.status == 0 else { throw TestEnvironment.SetupError("publish \(name): \(r.stderr)") }
                return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let digestA = try publish("a", [])
            let stateDir = dir.appendingPathComponent("state")
            let common = tag.followArguments(stateDirectory: stateDir, ["--probation", "1s"])

            // First run: serve A, then B, then refuse C; /status on a metrics port.
            let metricsPort = try LoopbackServer.freePort()
            let run1 = try AgentProcess(kiln, common + ["--metrics-addr", "127.0.0.1:\(metricsPort)"], log: dir.appendingPathComponent("run1.log"))
            defer { run1.kill() }
            try Self.waitFor("A active", timeout: 60) { Self.state(stateDir)?.active?.digest.description == digestA }
            let digestB = try publish("b", ["--golden", goldenB, "--slo-p99", "5s"])
            run1.signal(SIGHUP)
            try Self.waitFor("B active after probation", timeout: 120) {
                let s = Self.state(stateDir)
                return s?.active?.digest.description == digestB && s?.phase == .idle
            }
            // The agent's status endpoint carries the rollout state.
            let statusDocument = try String(decoding: Data(contentsOf: URL(string: "http://127.0.0.1:\(metricsPort)/status")!), as: UTF8.self)
            let statusObject = try JSONSerialization.jsonObject(with: Data(statusDocument.utf8)) as? [String: Any]
            let rolloutObject = statusObject?["rollout"] as? [String: Any]
            #expect((rolloutObject?["active"] as? [String: Any])?["digest"] as? String == digestB, "\(statusDocument.prefix(800))")
            #expect(statusObject?["digest"] as? String == Digest.of(b).description)
            let digestC = try publish("c", ["--golden", goldenB, "--slo-p99", "5s"])
            run1.signal(SIGHUP)
            try Self.waitFor("C refused", timeout: 120) { Self.state(stateDir)?.rejected.contains { $0.digest.description == digestC } ?? false }
            let afterC = try #require(Self.state(stateDir))
            #expect(afterC.active?.digest.description == digestB)
            #expect(afterC.previous?.digest.description == digestA)
            let refusal = try #require(afterC.rejected.first { $0.digest.description == digestC })
            #expect(refusal.reason.contains("golden data failed"), "\(refusal.reason)")
            // C was refused at the gate, before any swap.
            #expect(!afterC.transitions.contains { $0.digest?.description == digestC && $0.phase == .probation })
            // A few more polls: C is not retried while the tag still points at it.
            run1.signal(SIGHUP)
            usleep(1_500_000)
            let pullsOfC = Self.state(stateDir)?.transitions.filter { $0.digest?.description == digestC && $0.phase == .pulling }.count
            #expect(pullsOfC == 1)

            let report1 = try run1.stop()
            #expect(report1["dropped"] as? Int == 0, "\(report1)")
            #expect((report1["frames"] as? Int ?? 0) > 0)
            let model1 = report1["model"] as? [String: Any]
            #expect(model1?["digest"] as? String == Digest.of(b).description, "the loop ended serving B")

            // `kiln status` shows it.
            let status = try TestEnvironment.run(kiln, ["status", "--json", "--state-dir", stateDir.path])
            #expect(status.status == 0)
            #expect(status.stdout.contains(digestB) && status.stdout.contains(digestC))

            // Restart: B is still active (not A, not C), and C is still refused.
            let run2 = try AgentProcess(kiln, common + ["--duration", "4s"], log: dir.appendingPathComponent("run2.log"))
            defer { run2.kill() }
            let report2 = try run2.wait(timeout: 120)
            let model2 = report2["model"] as? [String: Any]
            #expect(model2?["digest"] as? String == Digest.of(b).description, "restart serves B")
            #expect(report2["dropped"] as? Int == 0)
            let afterRestart = try #require(Self.state(stateDir))
            #expect(afterRestart.active?.digest.description == digestB)
            #expect(afterRestart.rejected.contains { $0.digest.description == digestC })
            #expect(afterRestart.transitions.filter { $0.digest?.description == digestC && $0.phase == .pulling }.count == 1)
        }
    }
}

extension RolloutEndToEndTests {
    /// A 4 GB board (`jetson-nano-4gb`: never build while serving): B is pulled while A serves,
    /// and built, gated and served only after a restart.
    @Test func smallBoardBuildsTheNewModelAtTheNextStartNotWhileServing() async throws {
        try await RegistryServer.withScratch(directory: "kiln-rollout-small") { registry, dir in
            let kiln = TestEnvironment.kilnExecutable
            let tag = try FleetTag("small", on: registry, in: dir)
            let digestA = try tag.publish(DemoModel.bytes(), "a")
            let b = Self.variant(bias: [0.5, 0, 0, 0])
            let stateDir = dir.appendingPathComponent("state")
            let common = tag.followArguments(stateDirectory: stateDir, ["--profile", "jetson-nano-4gb"])
            let run1 = try AgentProcess(kiln, common, log: dir.appendingPathComponent("run1.log"))
            defer { run1.kill() }
            try Self.waitFor("A active", timeout: 60) { Self.state(stateDir)?.active?.digest.description == digestA }
            let digestB = try tag.publish(b, "b")
            run1.signal(SIGHUP)
            try Self.waitFor("B pending", timeout: 60) { Self.state(stateDir)?.pendingBuild?.description == digestB }
            let report1 = try run1.stop()
            #expect((report1["model"] as? [String: Any])?["digest"] as? String == Digest.of(DemoModel.bytes()).description,
                    "A served until the end: nothing was built while serving")
            #expect(!(Self.state(stateDir)?.transitions.contains { $0.phase == .building } ?? true))

            let run2 = try AgentProcess(kiln, common + ["--duration", "3s"], log: dir.appendingPathComponent("run2.log"))
            defer { run2.kill() }
            let report2 = try run2.wait(timeout: 120)
            #expect((report2["model"] as? [String: Any])?["digest"] as? String == Digest.of(b).description, "the restart serves B")
            let after = try #require(Self.state(stateDir))
            #expect(after.active?.digest.description == digestB && after.previous?.digest.description == digestA)
            #expect(after.pendingBuild == nil)
        }
    }
}

/// A `kiln run` child process whose last stdout line is its JSON report.
final class AgentProcess: @unchecked Sendable {
    let process = Process()
    let stdout = Pipe()
    let logPath: URL

    init(_ kiln: String, _ arguments: [String], log: URL) throws {
        logPath = log
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: kiln)
        process.arguments = arguments
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: log)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    func signal(_ sig: Int32) { Glibc.kill(process.processIdentifier, sig) }

    /// SIGINT (drain and report), then the report.
    func stop() throws -> [String: Any] {
        signal(SIGINT)
        return try wait(timeout: 60)
    }

    /// Waits for exit and parses the report.
    func wait(timeout: Double) throws -> [String: Any] {
        let deadline = MonotonicClock.now + timeout
        while process.isRunning && MonotonicClock.now < deadline { usleep(50_000) }
        if process.isRunning {
            kill()
            throw TestEnvironment.SetupError("kiln run did not exit; log: \(String(decoding: (try? Data(contentsOf: logPath)) ?? Data(), as: UTF8.self).suffix(3000))")
        }
        let out = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard let line = out.split(separator: "\n").last,
              let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw TestEnvironment.SetupError("kiln run (status \(process.terminationStatus)) printed no JSON report: \(out.suffix(500)); log: \(String(decoding: (try? Data(contentsOf: logPath)) ?? Data(), as: UTF8.self).suffix(3000))")
        }
        return object
    }

    func kill() {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
