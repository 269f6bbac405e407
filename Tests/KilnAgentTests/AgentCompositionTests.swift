import Foundation
import Glibc
import KilnAgent
import KilnCore
import KilnInference
import KilnRegistry
import KilnRollout
import KilnTensorRT
import KilnTestSupport
import Testing

/// The agent assembled in-process through its composition root (`Agent(configuration:)`), no
/// `kiln` binary: a rollout swap from a real registry, then a configuration reload, then a
/// graceful shutdown that returns the report.
@Suite(.serialized) struct AgentCompositionTests {
    @Test func theAgentFollowsARolloutAndReloadsItsConfigurationInProcess() async throws {
        try await RegistryServer.withScratch(directory: "kiln-agent-inprocess") { registry, dir in
            let a = DemoModel.bytes(), b = RolloutEndToEndTests.variant(bias: [0.5, 0, 0, 0])
            let c = RolloutEndToEndTests.variant(bias: [0, 0.5, 0, 0])
            let tag = try FleetTag("inprocess", on: registry, in: dir)
            let text = tag.text, client = tag.client
            let digestA = try await tag.publishInProcess(a, "a")
            let conf = dir.appendingPathComponent("kiln.conf")
            try "model = \(text)\n".write(to: conf, atomically: true, encoding: .utf8)
            let device = try DeviceDetector().detect(catalog: ProfileCatalog.embedded())
            // An unpaced source, as the spawned rollout test uses: like a file it never drops on
            // its own, so a dropped frame is one the swap or the reload lost (a paced live source
            // also drops when a loaded machine runs its capture thread late).
            var loop = FrameLoop.Configuration(reportInterval: nil)
            loop.makePreprocessor = PreprocessorChoice.cpu
            let stateDirectory = dir.appendingPathComponent("state").path
            let agent = Agent(configuration: AgentConfiguration(
                model: .reference(text), device: device, cache: EngineCache(directory: dir.appendingPathComponent("cache").path),
                engineBuildChild: EngineBuildChildCommand(executable: "/bin/false", arguments: []),
                sources: ["synthetic:160x120"], loop: loop, backend: "reference", threads: 1,
                registry: RegistryAccess(client: client, store: ModelStore(root: dir.appendingPathComponent("store").path)),
                follow: .init(schedule: PollSchedule(interval: 0.3, jitter: 0), probationSeconds: 0.5, stateDirectory: stateDirectory,
                              deviceID: "in-process"),
                configurationFile: conf.path, handlesSignals: false))
            let running = Task { try await agent.run() }

            try RolloutEndToEndTests.waitFor("A serving", timeout: 60) { agent.servingEngine?.digest == Digest.of(a).description }
            #expect(agent.rolloutState?.active?.digest == digestA)

            // The tag moves to B: gated, swapped, committed after probation.
            let digestB = try await tag.publishInProcess(b, "b")
            agent.reload()
            try RolloutEndToEndTests.waitFor("B active", timeout: 90) { agent.rolloutState?.active?.digest == digestB && agent.rolloutState?.phase == .idle }
            #expect(agent.servingEngine?.digest == Digest.of(b).description)
            let phases = agent.rolloutState?.transitions.filter { $0.digest == digestB }.map(\.phase) ?? []
            #expect(phases.contains(.swapping) && phases.contains(.probation), "\(phases)")
            #expect(try RolloutStateStore(directory: stateDirectory).load().active?.digest == digestB, "persisted")
            #expect(agent.telemetry.metrics.exposition().contains("kiln_rollout_state{state=\"idle\"} 1"))

            // The configuration file now names a local file: a reload swaps it in.
            let cPath = dir.appendingPathComponent("c.onnx")
            try Data(c).write(to: cPath)
            try "model = \(cPath.path)\n".write(to: conf, atomically: true, encoding: .utf8)
            agent.reload()
            try RolloutEndToEndTests.waitFor("C serving after the reload", timeout: 90) { agent.servingEngine?.digest == Digest.of(c).description }

            usleep(300_000)
            agent.shutdownGracefully()
            let report = try await running.value
            #expect(report.model.digest == Digest.of(c).description)
            #expect(report.frames > 0)
            #expect(report.dropped == 0)
        }
    }
}
