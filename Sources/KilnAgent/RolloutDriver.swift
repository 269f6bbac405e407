import Foundation
import KilnCore
import KilnInference
import KilnRegistry
import KilnRollout
import KilnService
import Synchronization

/// Following a reference inside the agent: picks the model to serve at start (the persisted
/// active digest, a pending build, or what the reference points at), then runs the
/// `RolloutController` beside the loop once the loop's slot exists.
public final class RolloutDriver: Sendable {
    /// The controller's configuration.
    public let configuration: RolloutController.Configuration
    /// The model served at start.
    public let serving: PulledModel
    /// Its bytes, for the first engine.
    public let source: ModelSource
    private let puller: ModelPuller
    private let store: RolloutStateStore
    private let state: RolloutState
    private let controller = Mutex<RolloutController?>(nil)

    private init(configuration: RolloutController.Configuration, puller: ModelPuller, store: RolloutStateStore,
                 state: RolloutState, serving: PulledModel, source: ModelSource) {
        self.configuration = configuration
        self.puller = puller
        self.store = store
        self.state = state
        self.serving = serving
        self.source = source
    }

    /// Resolves the model to serve first: a digest pulled earlier and waiting for a start to be
    /// built and gated (profiles that forbid building while serving), else the persisted active
    /// digest of this reference (a restart keeps what was rolled out), else what the reference
    /// points at now.
    public static func start(_ reference: ModelReference, follow: AgentConfiguration.Follow, registry: RegistryAccess,
                             factory: EngineFactory, buildWhileServing: Bool) async throws -> RolloutDriver {
        if case .file = reference {
            throw UsageError("kiln run --follow: follow an oci:PATH:TAG or HOST/REPO:TAG reference, not a file")
        }
        let store = RolloutStateStore(directory: follow.stateDirectory)
        var state = try store.load()
        if state.reference == reference.description {
            for decision in state.recoverAtStart(breakerThreshold: follow.crashLoopThreshold) { Log.warning("rollout: \(decision)") }
        }
        let puller = registry.puller
        var pulled = await RolloutController.buildPending(reference: reference, puller: puller, factory: factory, state: &state,
                                                          store: store)
        try store.save(state)
        if pulled == nil, let active = RolloutController.persistedActive(for: reference, in: store) {
            do {
                pulled = try await puller.pull(reference.pinned(to: active))
                Log.notice("rollout: resuming with the persisted active model \(active)")
            } catch {
                Log.warning("rollout: persisted active model \(active) is unavailable (\(error)); starting from \(reference)")
            }
        }
        let model: PulledModel
        if let pulled { model = pulled } else { model = try await puller.pull(reference) }
        guard let data = FileManager.default.contents(atPath: model.path) else {
            throw RuntimeError("model \(reference): pulled to \(model.path) but it cannot be read")
        }
        // Left set until the run ends cleanly: found at the next start, it counts an abnormal exit.
        state.running = .init(serving: model.digest)
        try store.save(state)
        let configuration = RolloutController.Configuration(
            reference: reference, schedule: follow.schedule, deviceID: follow.deviceID, probationSeconds: follow.probationSeconds,
            buildWhileServing: buildWhileServing)
        return RolloutDriver(configuration: configuration, puller: puller, store: store, state: state, serving: model,
                             source: ModelSource(bytes: Array(data), name: reference.description))
    }

    /// The rollout service for the loop's slot; every transition goes to `onTransition`
    /// (the `kiln_rollout_state` metric).
    public func service(slot: EngineSlot, factory: EngineFactory,
                        onTransition: @escaping @Sendable (RolloutState) -> Void) -> any Service {
        let hooks = RolloutController.Hooks.live(reference: configuration.reference, puller: puller, factory: factory, slot: slot,
                                                 trialChild: factory.isolation)
        let c = RolloutController(configuration: configuration, hooks: hooks, stateStore: store, state: state,
                                  serving: (serving, slot.current.engine), onTransition: onTransition)
        controller.withLock { $0 = c }
        return c
    }

    /// The run ended cleanly: clears the run marker and the served digest's abnormal exits.
    public func finish() {
        do {
            var state = try store.load()
            if let marker = state.running {
                state.clearAbnormalExits(marker.digest)
                state.running = nil
            }
            try store.save(state)
        } catch {
            Log.error("rollout: \(error)")
        }
    }

    /// Polls now (SIGHUP, `POST /rollout/poll`).
    public func trigger() { controller.withLock { $0 }?.trigger() }

    /// The rollout state, once the controller runs.
    public func snapshot() -> RolloutState? { controller.withLock { $0 }?.snapshot() }
}
