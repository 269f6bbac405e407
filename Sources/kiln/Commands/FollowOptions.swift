import Foundation
import KilnAgent
import KilnCore
import KilnInference
import KilnRegistry
import KilnTelemetry
import Synchronization

/// `kiln run --follow`: the flags and the wiring of a `RolloutController` beside the loop.
struct FollowOptions {
    static let help = """
          --follow                    follow the reference: poll it, roll new digests out through
                                      the on-device gate, swap without dropping frames, roll back
          --poll-interval DURATION    time between polls (default 30s), ±--poll-jitter
          --poll-jitter FRACTION      spread of the poll interval (default 0.2 = ±20%)
          --probation DURATION        how long a new engine is watched after the swap (default 10s)
          --state-dir DIR             where rollout.json lives (default $STATE_DIRECTORY,
                                      $XDG_STATE_HOME/kiln or ~/.local/state/kiln)
        """

    var enabled: Bool
    var interval: Double
    var jitter: Double
    var probation: Double
    var stateDirectory: String

    init(_ a: inout Arguments) throws {
        enabled = a.flag("--follow")
        interval = try a.option("--poll-interval", "a duration like 30s") { DurationText.seconds($0).flatMap { $0 > 0 ? $0 : nil } } ?? 30
        jitter = try a.option("--poll-jitter", "a fraction from 0 to 1") { Double($0).flatMap { (0...1).contains($0) ? $0 : nil } } ?? 0.2
        probation = try a.option("--probation", "a duration like 10s") { DurationText.seconds($0) } ?? 10
        stateDirectory = try a.option("--state-dir") ?? StateDirectory.path()
    }

    /// Resolves the model to serve first: the persisted active digest of this reference if
    /// there is one (a restart keeps what was rolled out), else what the reference points at.
    func start(_ reference: ModelReference, registry: RegistryOptions, factory: EngineFactory,
               buildWhileServing: Bool) async throws -> (ModelSource, FollowRollout) {
        if case .file = reference {
            throw UsageError("kiln run --follow: follow an oci:PATH:TAG or HOST/REPO:TAG reference, not a file")
        }
        let store = RolloutStateStore(directory: stateDirectory)
        var state = try store.load()
        let puller = ModelPuller(store: registry.store, client: registry.client)
        var pulled = await RolloutController.buildPending(reference: reference, puller: puller, factory: factory, state: &state)
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
        let configuration = RolloutController.Configuration(
            reference: reference, schedule: PollSchedule(interval: interval, jitter: jitter), probationSeconds: probation,
            buildWhileServing: buildWhileServing)
        let rollout = FollowRollout(configuration: configuration, puller: puller, store: store, state: state, serving: model)
        return (ModelSource(bytes: Array(data), name: reference.description), rollout)
    }
}

/// Holds the rollout controller once the loop's slot exists, so SIGHUP can reach it.
final class FollowRollout: Sendable {
    let configuration: RolloutController.Configuration
    let puller: ModelPuller
    let store: RolloutStateStore
    let state: RolloutState
    let serving: PulledModel
    private let controller = Mutex<RolloutController?>(nil)

    init(configuration: RolloutController.Configuration, puller: ModelPuller, store: RolloutStateStore, state: RolloutState,
         serving: PulledModel) {
        self.configuration = configuration
        self.puller = puller
        self.store = store
        self.state = state
        self.serving = serving
    }

    /// The rollout service for the loop's slot; transitions drive `kiln_rollout_state`.
    func services(slot: EngineSlot, factory: EngineFactory, telemetry: AgentTelemetry?) -> [any Service] {
        let hooks = RolloutController.Hooks.live(reference: configuration.reference, puller: puller, factory: factory, slot: slot)
        let c = RolloutController(configuration: configuration, hooks: hooks, stateStore: store, state: state,
                                  serving: (serving, slot.current.engine),
                                  onTransition: { state in telemetry?.metrics.setRolloutState(RolloutController.metricState(state)) })
        controller.withLock { $0 = c }
        return [c]
    }

    /// Polls now (SIGHUP).
    func trigger() { controller.withLock { $0 }?.trigger() }

    /// The rollout state for `/status`.
    func snapshot() -> RolloutState? { controller.withLock { $0 }?.snapshot() }
}
