import Foundation
import KilnAgent
import KilnCore
import KilnInference
import KilnONNX
import KilnReference
import KilnRegistry
import KilnRollout
import KilnTensorRT
import KilnTestSupport
import Testing

/// A backend standing in for a non-reference one (TensorRT cannot run here): it builds with the
/// reference backend, but for the models in `tampered` from altered weights, so its engine differs
/// from its ONNX as a mis-built TensorRT engine would. Its engines carry its own identity, so the
/// agent treats them as another backend's artifacts and gates them.
struct TamperingBackend: InferenceBackend {
    let reference = ReferenceBackend()
    /// Digests (`sha256:…`) of the models whose engines are built from altered weights.
    var tampered: Set<String>
    var name: String { "tampering" }
    func availability() -> BackendAvailability { .available }
    func identity() throws -> BackendIdentity {
        BackendIdentity(backend: name, fields: try reference.identity().fields)
    }
    func build(model: ModelSource, options: BuildOptions) throws -> EngineArtifact {
        var source = model
        if tampered.contains(model.digest) {
            source = ModelSource(bytes: ONNXWriter.serialize(try ONNXReader.model(model.bytes).alteringFloatWeights()), name: model.name)
        }
        var artifact = try reference.build(model: source, options: options)
        artifact.identity = try identity()
        return artifact
    }
    func load(_ artifact: EngineArtifact, options: BuildOptions) throws -> any InferenceRunner {
        guard artifact.identity == (try identity()) else { throw InvalidModelError("not a \(name) engine: \(artifact.identity)") }
        var inner = artifact
        inner.identity = try reference.identity()
        return try reference.load(inner, options: options)
    }
}

@Suite(.serialized) struct AccuracyGateAgentTests {
    func configuration(_ dir: URL, model: AgentConfiguration.Model, backend: String, tampered: Set<String>,
                       follow: AgentConfiguration.Follow? = nil, registry: RegistryAccess? = nil) throws -> AgentConfiguration {
        var loop = FrameLoop.Configuration(reportInterval: nil)
        loop.makePreprocessor = PreprocessorChoice.cpu
        var c = AgentConfiguration(
            model: model, device: try DeviceDetector().detect(catalog: ProfileCatalog.embedded()),
            cache: EngineCache(directory: dir.appendingPathComponent("cache").path),
            engineBuildChild: EngineBuildChildCommand(executable: "/bin/false", arguments: []),
            sources: ["synthetic:160x120"], loop: loop, backend: backend, threads: 1, registry: registry, follow: follow,
            handlesSignals: false)
        c.loop.maxFrames = 20
        c.backends = BackendCatalog([TamperingBackend(tampered: tampered), ReferenceBackend()])
        return c
    }

    @Test("first start, --backend forced: an engine that differs from its ONNX is refused with exit 3 and no fallback")
    func forcedBackendRefusesMismatchingEngine() async throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-gate-forced")
        defer { try? FileManager.default.removeItem(at: dir) }
        let demo = ModelSource(bytes: DemoModel.bytes(), name: "demo.onnx")
        let agent = Agent(configuration: try configuration(dir, model: .source(demo), backend: "tampering", tampered: [demo.digest]))
        let error = await #expect(throws: (any Error).self) { try await agent.run() }
        let kiln = try #require(error as? any KilnError)
        #expect(kiln.exitCode == .invalidModel)
        #expect(kiln.description.contains("differs from the reference backend's outputs"), "\(kiln)")
        #expect(kiln.description.contains("does not fall back"), "\(kiln)")
    }

    @Test("first start, --backend auto: the mismatching engine is refused and the agent serves on the reference backend")
    func autoFallsBackToReference() async throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-gate-auto")
        defer { try? FileManager.default.removeItem(at: dir) }
        let demo = ModelSource(bytes: DemoModel.bytes(), name: "demo.onnx")
        let report = try await Agent(configuration: try configuration(dir, model: .source(demo), backend: "auto", tampered: [demo.digest])).run()
        #expect(report.backend == "reference")
        #expect(report.frames == 20, "the frames read ahead for the gate are served too")
    }

    @Test("first start: a faithful engine of the non-reference backend passes the gate and serves")
    func faithfulEngineServes() async throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-gate-ok")
        defer { try? FileManager.default.removeItem(at: dir) }
        let demo = ModelSource(bytes: DemoModel.bytes(), name: "demo.onnx")
        let report = try await Agent(configuration: try configuration(dir, model: .source(demo), backend: "tampering", tampered: [])).run()
        #expect(report.backend == "tampering")
        #expect(report.frames == 20)
    }

    @Test("rollout: a candidate whose engine differs from its ONNX (no golden data) is refused at the gate; the old model keeps serving")
    func rolloutRefusesMismatchingCandidate() async throws {
        try await RegistryServer.withScratch(directory: "kiln-gate-rollout") { registry, dir in
            let a = DemoModel.bytes(), b = RolloutEndToEndTests.variant(bias: [0.5, 0, 0, 0])
            let tag = try FleetTag("gate", on: registry, in: dir)
            let text = tag.text, client = tag.client
            let digestA = try await tag.publishInProcess(a, "a")
            let stateDirectory = dir.appendingPathComponent("state").path
            var c = try configuration(dir, model: .reference(text), backend: "tampering",
                                      tampered: [ModelSource(bytes: b, name: "").digest],
                                      follow: .init(schedule: PollSchedule(interval: 0.3, jitter: 0), probationSeconds: 0.5,
                                                    stateDirectory: stateDirectory, deviceID: "gate"),
                                      registry: RegistryAccess(client: client, store: ModelStore(root: dir.appendingPathComponent("store").path)))
            c.loop.maxFrames = nil
            c.sources = ["synthetic:160x120@60"]
            let agent = Agent(configuration: c)
            let running = Task { try await agent.run() }
            try RolloutEndToEndTests.waitFor("A serving", timeout: 60) { agent.servingEngine?.digest == Digest.of(a).description }
            let digestB = try await tag.publishInProcess(b, "b")
            agent.reload()
            try RolloutEndToEndTests.waitFor("B refused", timeout: 90) { agent.rolloutState?.rejected.contains { $0.digest == digestB } ?? false }
            let state = try #require(agent.rolloutState)
            let refusal = try #require(state.rejected.first { $0.digest == digestB })
            #expect(refusal.reason.contains("differs from the reference backend's outputs"), "\(refusal.reason)")
            #expect(refusal.kind == .gateFailed)
            #expect(state.active?.digest == digestA)
            #expect(agent.servingEngine?.digest == Digest.of(a).description)
            #expect(!state.transitions.contains { $0.digest == digestB && $0.phase == .swapping })
            agent.shutdownGracefully()
            let report = try await running.value
            #expect(report.backend == "tampering")
            #expect(report.frames > 0)
        }
    }
}
