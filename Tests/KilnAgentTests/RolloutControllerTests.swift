import Foundation
@testable import KilnAgent
import KilnCore
import KilnInference
import KilnTensorRT
import KilnRegistry
import KilnRollout
import KilnTestSupport
import Synchronization
import Testing

/// The rollout controller's decisions with real parts: artifacts in an OCI layout, engines from
/// the reference backend through the engine cache, the loop's `EngineSlot`.
@Suite(.serialized) struct RolloutControllerTests {
    final class Fixture: @unchecked Sendable {
        let dir: URL
        let layout: String
        let reference: ModelReference
        let slot: EngineSlot
        let factory: EngineFactory
        let puller: ModelPuller
        let store: RolloutStateStore
        let a: PulledModel

        init() async throws {
            dir = try TestEnvironment.temporaryDirectory("kiln-rollout-unit")
            layout = dir.appendingPathComponent("layout").path
            reference = .layout(path: layout, tag: "prod", digest: nil)
            let backend = try BackendCatalog.standard(engineBuildChild: EngineBuildChildCommand(executable: "/bin/false", arguments: [])).select("reference")
            factory = EngineFactory(backend: backend, options: BuildOptions(threads: 1),
                                    preparer: EnginePreparer(cache: EngineCache(directory: dir.appendingPathComponent("cache").path)))
            puller = ModelPuller(store: ModelStore(root: dir.appendingPathComponent("store").path), client: RegistryClient())
            store = RolloutStateStore(directory: dir.appendingPathComponent("state").path)
            _ = try await Self.publish(DemoModel.bytes(), name: "a", in: dir, to: reference)
            a = try await puller.pull(reference)
            let source = ModelSource(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: a.path))), name: "a")
            slot = EngineSlot(try await factory.make(model: source).0)
        }

        static func publish(_ bytes: [UInt8], name: String, in dir: URL, to reference: ModelReference,
                            annotations: KilnAnnotations = KilnAnnotations()) async throws -> Digest {
            let path = dir.appendingPathComponent("\(name).onnx").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let artifact = try ModelArtifactBuilder(modelPath: path, goldenDirectory: nil, annotations: annotations, name: name,
                                                    workDirectory: dir.appendingPathComponent("work-\(name)").path)
            return try await ModelPublisher(client: RegistryClient()).publish(artifact, to: reference)
        }

        func publish(_ bytes: [UInt8], name: String, annotations: KilnAnnotations = KilnAnnotations()) async throws -> Digest {
            try await Self.publish(bytes, name: name, in: dir, to: reference, annotations: annotations)
        }

        func controller(probation: Double = 0.5, deviceID: String = "device-1", buildWhileServing: Bool = true) throws -> RolloutController {
            RolloutController(
                configuration: .init(reference: reference, schedule: PollSchedule(interval: 0.1), deviceID: deviceID,
                                     probationSeconds: probation, probationMinFrames: 0, buildWhileServing: buildWhileServing),
                hooks: .live(reference: reference, puller: puller, factory: factory, slot: slot, latencyRuns: 5),
                stateStore: store, state: try store.load(), serving: (a, slot.current.engine))
        }

        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    static func variant(_ bias: Float) -> [UInt8] { RolloutEndToEndTests.variant(bias: [bias, 0, 0, 0]) }

    @Test func anEngineThatFailsInProbationIsRolledBackAndRefused() async throws {
        let f = try await Fixture()
        let controller = try f.controller()
        let b = try await f.publish(Self.variant(0.25), name: "b")
        // Stand in for the loop: every call on a new generation fails.
        let stopFlag = StopBox()
        let failing = Thread { [slot = f.slot] in
            while true {
                let (_, generation) = slot.current
                if generation > 1 { slot.report(generation: generation, frames: 1, inferSeconds: nil, failed: true) }
                usleep(5_000)
                if stopFlag.load() { break }
            }
        }
        failing.start()
        await controller.pollOnce()
        stopFlag.set()
        let state = controller.snapshot()
        #expect(f.slot.current.engine.digest == f.a.modelDigest.description, "the previous engine serves again")
        #expect(f.slot.current.generation == 3, "swapped in, then swapped back")
        #expect(state.active?.digest == f.a.digest)
        #expect(state.rejected.first?.digest == b)
        #expect(state.rejected.first?.reason.contains("rolled back") == true)
        #expect(state.transitions.map(\.phase).suffix(3) == [.probation, .rollingBack, .idle])
        // Not retried while the tag still points at B.
        await controller.pollOnce()
        #expect(f.slot.current.generation == 3)
        // Persisted.
        #expect(try f.store.load().rejected.first?.digest == b)
    }

    @Test func anEngineOverItsLatencySLOIsRefusedBeforeTheSwap() async throws {
        let f = try await Fixture()
        let controller = try f.controller()
        let slow = try await f.publish(Self.variant(0.5), name: "slow", annotations: KilnAnnotations(sloP99Milliseconds: 0.0001))
        await controller.pollOnce()
        #expect(f.slot.current.generation == 1)
        let state = controller.snapshot()
        #expect(state.rejected.first?.digest == slow)
        #expect(state.rejected.first?.reason.contains("exceeds the SLO") == true)
        // The tag moves on to a good model: the refusal is forgotten and the new one goes live.
        let good = try await f.publish(Self.variant(0.75), name: "good")
        await controller.pollOnce()
        #expect(f.slot.current.generation == 2)
        #expect(controller.snapshot().active?.digest == good)
        #expect(controller.snapshot().previous?.digest == f.a.digest)
        #expect(controller.snapshot().rejected.isEmpty)
    }

    @Test func aDeviceOutsideTheRolloutPercentageSitsItOutWithoutDownloading() async throws {
        let f = try await Fixture()
        // Find a device id whose bucket is above 30 for this rollout id, and one below.
        let outside = (0..<100).map { "dev-\($0)" }.first { RolloutCohort.bucket(deviceID: $0, rolloutID: "wave-1") >= 30 }!
        let inside = (0..<100).map { "dev-\($0)" }.first { RolloutCohort.bucket(deviceID: $0, rolloutID: "wave-1") < 30 }!
        let staged = try await f.publish(Self.variant(1), name: "staged", annotations: KilnAnnotations(rolloutPercentage: 30, rolloutID: "wave-1"))
        let out = try f.controller(deviceID: outside)
        await out.pollOnce()
        #expect(out.snapshot().notInCohort == staged)
        #expect(!out.snapshot().transitions.contains { $0.phase == .pulling })
        #expect(f.slot.current.generation == 1)
        let storeHasModel = try f.puller.store.lookup(f.reference.pinned(to: staged).description) != nil
        #expect(!storeHasModel)
        let inController = try f.controller(deviceID: inside)
        await inController.pollOnce()
        #expect(inController.snapshot().active?.digest == staged)
    }

    @Test func aBoardThatMayNotBuildWhileServingBuildsAndGatesAtTheNextStart() async throws {
        let f = try await Fixture()
        let controller = try f.controller(buildWhileServing: false)
        let b = try await f.publish(Self.variant(0.3), name: "b")
        await controller.pollOnce()
        // Pulled while serving, not built: A still serves, B waits for the next start.
        #expect(f.slot.current.generation == 1)
        var state = try f.store.load()
        #expect(state.pendingBuild == b && state.active?.digest == f.a.digest)
        #expect(!state.transitions.contains { $0.phase == .building })
        await controller.pollOnce()
        #expect(try f.store.load().transitions.count == state.transitions.count, "a pending digest is not pulled again")
        // The next start: built and gated before serving.
        let served = await RolloutController.buildPending(reference: f.reference, puller: f.puller, factory: f.factory,
                                                          state: &state, latencyRuns: 2)
        #expect(served?.digest == b)
        #expect(state.pendingBuild == nil)
        // A pending model over its SLO is refused at start instead; the old one keeps serving.
        let slow = try await f.publish(Self.variant(0.6), name: "slow", annotations: KilnAnnotations(sloP99Milliseconds: 0.0001))
        await controller.pollOnce()
        var state2 = try f.store.load()
        #expect(state2.pendingBuild == slow)
        let refused = await RolloutController.buildPending(reference: f.reference, puller: f.puller, factory: f.factory,
                                                           state: &state2, latencyRuns: 2)
        #expect(refused == nil)
        #expect(state2.rejected.first?.digest == slow && state2.pendingBuild == nil)
    }

    @Test func triggerWakesTheLoopBeforeTheInterval() async throws {
        let f = try await Fixture()
        let controller = RolloutController(
            configuration: .init(reference: f.reference, schedule: PollSchedule(interval: 3600, jitter: 0), deviceID: "d",
                                 probationSeconds: 0.2, probationMinFrames: 0),
            hooks: .live(reference: f.reference, puller: f.puller, factory: f.factory, slot: f.slot, latencyRuns: 2),
            stateStore: f.store, state: RolloutState(), serving: (f.a, f.slot.current.engine))
        let task = Task { try await controller.run() }
        defer { task.cancel() }
        try await Task.sleep(for: .milliseconds(300))
        let next = try await f.publish(Self.variant(2), name: "next")
        controller.trigger()
        let deadline = MonotonicClock.now + 30
        while controller.snapshot().active?.digest != next && MonotonicClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(controller.snapshot().active?.digest == next)
        task.cancel()
        _ = await task.result
    }
}

/// A flag shared with a thread.
final class StopBox: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    func load() -> Bool { flag.load(ordering: .relaxed) }
}
