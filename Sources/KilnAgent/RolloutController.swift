import Foundation
import KilnCore
import KilnInference
import KilnRegistry
import KilnRollout
import KilnService
import Synchronization

/// Follows a model reference and rolls new digests out on this device, gated, with rollback.
///
/// The loop: poll the reference (a HEAD for registries) every `schedule.interval` ± jitter, at
/// once on `trigger()` (SIGHUP, the local API), with exponential backoff and full jitter while
/// polls fail. On a new digest: read its annotations (manifest only) → take part only if this
/// device's cohort bucket is under the rollout percentage → pull → prepare the engine (build or
/// cache hit) while the old one keeps serving → **gate**: golden data within tolerance, then a
/// warm latency check against the SLO → **swap** between two frames → **probation**, watching
/// the new engine's errors and p99 → automatic **rollback** to the previous engine if it
/// degrades. A refused digest is remembered (and persisted) until the reference moves to
/// another digest. Every transition is logged and saved in the state directory, so the
/// active, previous and refused digests survive restarts and `kiln status` can show them.
///
/// The controller never throws out of `run()` for a failed rollout or poll: the model that
/// serves keeps serving. Only cancellation ends it.
public actor RolloutController: Service {
    /// Tunables, made by `RolloutDriver` (and tests) through the memberwise initializer.
    public struct Configuration: Sendable {
        /// The followed reference (a tag).
        public var reference: ModelReference
        /// Poll interval, jitter and backoff.
        public var schedule = PollSchedule(interval: 30)
        /// This device's id for cohort hashing.
        public var deviceID = RolloutCohort.deviceID()
        /// How long a new engine is watched after the swap.
        public var probationSeconds: Double = 10
        /// Frames the new engine must serve before probation can pass (waits up to 3× the window).
        public var probationMinFrames = 10
        /// Largest share of failed engine calls tolerated in probation.
        public var maxErrorRate = 0.01
        /// Probation fails when the served p99 exceeds the SLO times this factor.
        public var probationLatencyFactor = 1.5
        /// Timed runs in the warm latency check (after 3 untimed warm-up runs).
        public var latencyRuns = 20
        /// The device profile's `buildWhileServing`: when false, a new model is pulled while
        /// serving but built (and gated) only at the next start, before anything serves.
        public var buildWhileServing = true
    }

    /// What the controller drives: the registry side and the engine side, as closures so each
    /// can be supplied by the agent (`live`) or by a test.
    public struct Hooks: Sendable {
        /// The digest the reference points at now (cheap).
        public var currentDigest: @Sendable () async throws -> Digest
        /// The annotations of the artifact at a digest (manifest only).
        public var inspect: @Sendable (Digest) async throws -> KilnAnnotations
        /// Fetches the artifact at a digest into the store.
        public var pull: @Sendable (Digest) async throws -> PulledModel
        /// Builds or loads the engine for a pulled model (off the cooperative pool).
        public var prepare: @Sendable (PulledModel) async throws -> ActiveEngine
        /// Checks golden data; returns nil when it passes, else the reason.
        public var verifyGolden: @Sendable (ActiveEngine, PulledModel) async throws -> String?
        /// Measures the warm p99 latency of an engine, in milliseconds.
        public var measureLatency: @Sendable (ActiveEngine, PulledModel) async throws -> Double
        /// Puts an engine into service between two frames; returns its generation.
        public var swap: @Sendable (ActiveEngine) -> Int
        /// Health of a generation since its swap.
        public var health: @Sendable (Int) -> EngineSlot.Health

        /// Creates hooks.
        public init(currentDigest: @escaping @Sendable () async throws -> Digest,
                    inspect: @escaping @Sendable (Digest) async throws -> KilnAnnotations,
                    pull: @escaping @Sendable (Digest) async throws -> PulledModel,
                    prepare: @escaping @Sendable (PulledModel) async throws -> ActiveEngine,
                    verifyGolden: @escaping @Sendable (ActiveEngine, PulledModel) async throws -> String?,
                    measureLatency: @escaping @Sendable (ActiveEngine, PulledModel) async throws -> Double,
                    swap: @escaping @Sendable (ActiveEngine) -> Int,
                    health: @escaping @Sendable (Int) -> EngineSlot.Health) {
            self.currentDigest = currentDigest
            self.inspect = inspect
            self.pull = pull
            self.prepare = prepare
            self.verifyGolden = verifyGolden
            self.measureLatency = measureLatency
            self.swap = swap
            self.health = health
        }
    }

    /// A rollout step failed in a way that refuses the digest.
    struct Refusal: Error {
        var kind: RefusalKind
        var reason: String
    }

    public nonisolated let name = "rollout"
    /// The configuration.
    public let configuration: Configuration
    private let hooks: Hooks
    private let stateStore: RolloutStateStore
    private let wakeup = Wakeup()
    private let snapshotBox: Mutex<RolloutState>
    private var state: RolloutState
    private var activeEngine: ActiveEngine?
    private let onTransition: (@Sendable (RolloutState) -> Void)?

    /// Creates a controller from the persisted `state` (`stateStore.load()`); a state for
    /// another reference is reset.
    ///
    /// `serving`, when given, is the model the agent serves at start (with its engine): it
    /// becomes the active deployment.
    /// `onTransition` sees every new state (metrics, the status endpoint).
    public init(configuration: Configuration, hooks: Hooks, stateStore: RolloutStateStore, state loaded: RolloutState,
                serving: (PulledModel, ActiveEngine)? = nil, onTransition: (@Sendable (RolloutState) -> Void)? = nil) {
        self.configuration = configuration
        self.onTransition = onTransition
        self.hooks = hooks
        self.stateStore = stateStore
        var state = loaded
        if state.reference != configuration.reference.description {
            if state.reference != nil {
                Log.notice("rollout: now following \(configuration.reference) (was \(state.reference!)); starting a fresh rollout state")
            }
            state = RolloutState()
            state.reference = configuration.reference.description
        }
        // Cohort membership is per device id: a new id re-draws it.
        if state.deviceID != configuration.deviceID { state.notInCohort = nil }
        state.deviceID = configuration.deviceID
        if let (model, engine) = serving {
            if state.active?.digest != model.digest {
                if let active = state.active { state.previous = active }
                state.active = .init(model, as: model.digest)
            }
            activeEngine = engine
            state.record(.idle, digest: model.digest, detail: "serving \(model.reference)")
        }
        self.state = state
        snapshotBox = Mutex(state)
        do { try stateStore.save(state) } catch { Log.error("rollout: cannot save state to \(stateStore.path): \(error)") }
    }

    /// The model a restart should serve: the persisted active digest of `reference`, if any.
    public static func persistedActive(for reference: ModelReference, in store: RolloutStateStore) -> Digest? {
        guard let state = try? store.load(), state.reference == reference.description else { return nil }
        return state.active?.digest
    }

    /// Polls now instead of waiting for the interval (SIGHUP, the local API).
    public nonisolated func trigger() { wakeup.signal() }

    /// The current state, for `kiln status` and the status endpoint.
    public nonisolated func snapshot() -> RolloutState { snapshotBox.withLock { $0 } }

    /// Polls and rolls out until cancelled.
    public func run() async throws {
        Log.notice("rollout: following \(configuration.reference) every \(configuration.schedule.interval) s ±\(Int(configuration.schedule.jitter * 100))% as device \(configuration.deviceID)")
        while !Task.isCancelled {
            await pollOnce()
            let delay = configuration.schedule.delay(failures: state.consecutiveFailures)
            await wakeup.wait(seconds: delay)
        }
    }

    /// One poll and, if the reference moved, one rollout attempt. Never throws.
    public func pollOnce() async {
        let digest: Digest
        do {
            digest = try await hooks.currentDigest()
        } catch is CancellationError {
            return
        } catch {
            state.consecutiveFailures += 1
            state.lastError = "\(error)"
            state.lastPoll = RolloutState.timestamp()
            Log.warning("rollout: poll of \(configuration.reference) failed (\(state.consecutiveFailures) in a row): \(error)")
            save()
            return
        }
        state.consecutiveFailures = 0
        state.lastError = nil
        state.lastPoll = RolloutState.timestamp()
        state.lastSeen = digest
        // A refusal holds only while the reference still points at the refused digest.
        let before = state.rejected.count
        state.rejected.removeAll { $0.digest != digest }
        if state.rejected.count != before { Log.info("rollout: \(configuration.reference) moved; earlier refusals forgotten") }
        if state.notInCohort != nil && state.notInCohort != digest { state.notInCohort = nil }
        if state.pendingBuild != nil && state.pendingBuild != digest { state.pendingBuild = nil }
        if digest == state.active?.digest || state.isRejected(digest) || digest == state.notInCohort || digest == state.pendingBuild {
            save()
            return
        }
        await rollOut(digest)
    }

    private func rollOut(_ digest: Digest) async {
        state.candidate = digest
        transition(.inspecting, digest, "\(configuration.reference) now points at \(digest)")
        do {
            let annotations = try await hooks.inspect(digest)
            let rolloutID = annotations.rolloutID ?? digest.description
            if !RolloutCohort.includes(deviceID: configuration.deviceID, rolloutID: rolloutID, percentage: annotations.rolloutPercentage) {
                let bucket = RolloutCohort.bucket(deviceID: configuration.deviceID, rolloutID: rolloutID)
                state.notInCohort = digest
                state.candidate = nil
                transition(.idle, digest, String(format: "sitting out: rollout %@ is at %g%%, this device's bucket is %.2f", rolloutID,
                                                  annotations.rolloutPercentage ?? 100, bucket))
                return
            }
            transition(.pulling, digest, "fetching the artifact")
            let model = try await hooks.pull(digest)
            if !configuration.buildWhileServing {
                state.pendingBuild = digest
                state.candidate = nil
                transition(.idle, digest, "pulled; waiting for a restart: this board's profile forbids building while serving, so the next start builds and gates it before serving")
                return
            }
            transition(.building, digest, "preparing the engine for model \(model.modelDigest.short) while the current one serves")
            let engine: ActiveEngine
            do { engine = try await hooks.prepare(model) } catch let e as CancellationError { throw e } catch let refused as AccuracyGateError {
                throw Refusal(kind: .gateFailed, reason: "accuracy gate: \(refused.description)")
            } catch {
                throw Refusal(kind: .buildFailed, reason: "engine build failed: \(error)")
            }
            transition(.gating, digest, model.goldenPath == nil ? "no golden data in the artifact; latency check only" : "checking golden data")
            let gate = ProgressHub.shared.begin(.gate, subject: "\(configuration.reference) \(digest.short)", unit: .phases, total: 2)
            var gated = false
            defer { gate.finish(gated ? .succeeded : .failed) }
            gate.enterPhase(model.goldenPath == nil ? "no golden cases" : "golden cases", index: 1, count: 2)
            // A candidate that crashes or is invalid on its first frames is the model's fault: refused.
            let failure: String?
            do { failure = try await hooks.verifyGolden(engine, model) } catch let error as InvalidModelError {
                throw Refusal(kind: .gateFailed, reason: "gate failed: \(error)")
            }
            if let failure {
                throw Refusal(kind: .gateFailed, reason: "golden data failed: \(failure)")
            }
            gate.enterPhase("warm-up and latency runs", index: 2, count: 2)
            if let slo = model.annotations.sloP99Milliseconds {
                let p99: Double
                do { p99 = try await hooks.measureLatency(engine, model) } catch let error as InvalidModelError {
                    throw Refusal(kind: .gateFailed, reason: "latency check failed: \(error)")
                }
                if p99 > slo {
                    throw Refusal(kind: .gateFailed, reason: String(format: "warm p99 %.2f ms exceeds the SLO of %g ms", p99, slo))
                }
                Log.info(String(format: "rollout: warm p99 %.2f ms within the SLO of %g ms", p99, slo))
            }
            gated = true
            gate.finish()
            transition(.swapping, digest, "gate passed; swapping in between two frames")
            // Trial: the candidate serves, but the committed model stays `active` (and is what a
            // restart serves) until probation passes.
            state.trial = .init(model, as: digest)
            save()
            let generation = hooks.swap(engine)
            transition(.probation, digest, "swapped in as generation \(generation) on trial; watching errors and latency for \(configuration.probationSeconds) s")
            switch await probation(generation: generation, slo: model.annotations.sloP99Milliseconds,
                                   subject: "\(configuration.reference) \(digest.short)") {
            case .failed(let failure):
                rollBack(digest, reason: failure)
            case .interrupted:
                // Shutting down: the trial was not proven; the committed model stays active and the
                // candidate is tried again at the next start (the tag still points at it).
                if let activeEngine { _ = hooks.swap(activeEngine) }
                state.trial = nil
                state.candidate = nil
                transition(.idle, digest, "probation interrupted by shutdown; not committed, tried again at the next start")
            case .passed:
                activeEngine = engine
                state.previous = state.active
                state.active = state.trial
                state.trial = nil
                state.candidate = nil
                state.clearAbnormalExits(digest)
                if let marker = state.running { state.running = .init(serving: digest, pid: marker.pid) }
                transition(.idle, digest, "probation passed; committed as active")
            }
        } catch is CancellationError {
            state.candidate = nil
            state.trial = nil
            transition(.idle, digest, "cancelled")
        } catch let refusal as Refusal {
            refuse(digest, kind: refusal.kind, reason: refusal.reason)
        } catch let error as RegistryError where error.fault == .model {
            refuse(digest, kind: .invalidArtifact, reason: error.description)
        } catch {
            // Network and I/O trouble, including a digest or size mismatch (a transfer corrupted
            // in transit): not the artifact's fault; never refused, tried again at the next poll.
            state.candidate = nil
            state.consecutiveFailures += 1
            state.lastError = "\(error)"
            transition(.idle, digest, "rollout attempt failed, will retry: \(error)")
        }
    }

    /// How a probation ended.
    enum ProbationOutcome {
        /// The candidate held up: commit it.
        case passed
        /// It degraded: roll back, with the reason.
        case failed(String)
        /// The agent is shutting down before the window ended: neither commit nor refuse.
        case interrupted
    }

    private func probation(generation: Int, slo: Double?, subject: String) async -> ProbationOutcome {
        let start = MonotonicClock.now
        let window = configuration.probationSeconds
        // Time left of the window (probation may run on, up to 3 windows, for too few frames).
        let progress = ProgressHub.shared.begin(.probation, subject: subject, unit: .seconds, total: Int64(window.rounded(.up)))
        var passed = false
        defer { progress.finish(passed ? .succeeded : .failed) }
        while true {
            try? await Task.sleep(for: .milliseconds(100))
            progress.update(done: Int64(MonotonicClock.now - start))
            let health = hooks.health(generation)
            let calls = health.frames + health.errors
            if calls > 0 && Double(health.errors) / Double(calls) > configuration.maxErrorRate && health.errors >= 2 {
                return .failed("\(health.errors) of \(calls) engine calls failed in probation")
            }
            if Task.isCancelled { return .interrupted }
            let elapsed = MonotonicClock.now - start
            if elapsed >= window && health.frames >= configuration.probationMinFrames || elapsed >= 3 * window {
                if let slo, health.p99 * 1000 > slo * configuration.probationLatencyFactor {
                    return .failed(String(format: "served p99 %.2f ms exceeds %g × the SLO of %g ms", health.p99 * 1000,
                                          configuration.probationLatencyFactor, slo))
                }
                if health.frames < configuration.probationMinFrames {
                    Log.warning("rollout: probation saw only \(health.frames) frames; accepting on what it saw")
                }
                passed = true
                return .passed
            }
        }
    }

    private func rollBack(_ digest: Digest, reason: String) {
        transition(.rollingBack, digest, reason)
        if let activeEngine { _ = hooks.swap(activeEngine) }
        state.trial = nil
        refuse(digest, kind: .rolledBack, reason: "rolled back after probation: \(reason)")
    }

    private func refuse(_ digest: Digest, kind: RefusalKind, reason: String) {
        state.refuse(digest, kind: kind, reason: reason)
        Log.warning("rollout: refused \(digest): \(reason); keeps serving \(state.active?.digest.description ?? "the current model")")
        save(notify: true)
    }

    private func transition(_ phase: RolloutPhase, _ digest: Digest?, _ detail: String) {
        state.record(phase, digest: digest, detail: detail)
        Log.notice("rollout: \(phase.rawValue) \(digest?.short ?? ""): \(detail)")
        save(notify: true)
    }

    /// Persists the state, tells `onTransition` when `notify` (metrics, status), and only then
    /// publishes the snapshot: whoever reads a phase from the snapshot finds it on disk and in
    /// the metrics already.
    private func save(notify: Bool = false) {
        let snapshot = state
        do { try stateStore.save(snapshot) } catch {
            Log.error("rollout: cannot save state to \(stateStore.path): \(error)")
        }
        if notify { onTransition?(snapshot) }
        snapshotBox.withLock { $0 = snapshot }
    }
}

/// A one-shot wake-up for a single waiter: `signal()` ends the current (or next) `wait`.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after `seconds`, on `signal()`, or on cancellation, whichever comes first.
    func wait(seconds: Double) async {
        if state.withLock({ s in defer { s.pending = false }; return s.pending }) { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: .seconds(seconds)) }
            group.addTask { await self.waitForSignal() }
            await group.next()
            group.cancelAll()
            // Release a waiter still parked (the timer won).
            self.cancelWaiter()
        }
    }

    private func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if Task.isCancelled { return true }
                    if s.pending {
                        s.pending = false
                        return true
                    }
                    s.waiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            self.cancelWaiter()
        }
    }

    private func cancelWaiter() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }
}
