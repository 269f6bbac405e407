import Foundation
import KilnCore
import KilnInference
import KilnRegistry
import KilnRollout

extension RolloutController {
    /// At start, on a board whose profile forbids building while serving: builds and gates the
    /// digest a previous run pulled (`state.pendingBuild`) before anything serves.
    ///
    /// Returns the model to serve when it passes the gate (golden data, warm latency against
    /// the SLO); records a refusal in `state` and returns nil when it fails; returns nil and
    /// keeps it pending when it cannot be tried (the store lost it, the registry is down).
    /// With `store`, the state is saved as the build starts, so a crash during it is seen at
    /// the next start (`RolloutState.recoverAtStart`) and the digest refused.
    public static func buildPending(reference: ModelReference, puller: ModelPuller, factory: EngineFactory,
                                    state: inout RolloutState, store: RolloutStateStore? = nil,
                                    latencyRuns: Int = 20) async -> PulledModel? {
        guard state.reference == reference.description, let pending = state.pendingBuild else { return nil }
        let model: PulledModel
        let engine: ActiveEngine
        do {
            model = try await puller.pull(reference.pinned(to: pending))
            let bytes = try await BlockingWork.run("kiln-read-model") { () throws -> [UInt8] in
                guard let data = FileManager.default.contents(atPath: model.path) else {
                    throw RuntimeError("model \(model.reference): \(model.path) cannot be read")
                }
                return Array(data)
            }
            state.candidate = pending
            state.record(.building, digest: pending, detail: "building at start, before serving (profile forbids building while serving)")
            do { try store?.save(state) } catch { Log.error("rollout: \(error)") }
            engine = try await factory.make(model: ModelSource(bytes: bytes, name: model.reference), hint: model.annotations.preprocess,
                                            postprocess: model.annotations.postprocess, goldenData: model.goldenPath != nil).0
        } catch let error as RegistryError where error.kind == .transport || error.kind == .io {
            Log.warning("rollout: pending \(pending) cannot be tried now (\(error)); keeping it pending")
            return nil
        } catch {
            refuse(pending, kind: .buildFailed, reason: "engine build failed: \(error)", in: &state)
            return nil
        }
        do {
            state.record(.gating, digest: pending, detail: "checking the pending model before serving it")
            if let golden = model.goldenPath,
               let failure = try await BlockingWork.run("kiln-golden", { try GoldenGate.check(engine: engine, goldenTar: golden, model: model) }) {
                refuse(pending, kind: .gateFailed, reason: "golden data failed: \(failure)", in: &state)
                return nil
            }
            if let slo = model.annotations.sloP99Milliseconds {
                let p99 = try await BlockingWork.run("kiln-latency") {
                    try GoldenGate.warmP99Milliseconds(engine: engine, goldenTar: model.goldenPath, runs: latencyRuns)
                }
                if p99 > slo {
                    refuse(pending, kind: .gateFailed, reason: String(format: "warm p99 %.2f ms exceeds the SLO of %g ms", p99, slo), in: &state)
                    return nil
                }
            }
        } catch {
            refuse(pending, kind: .gateFailed, reason: "gate failed: \(error)", in: &state)
            return nil
        }
        state.pendingBuild = nil
        state.candidate = nil
        state.record(.idle, digest: pending, detail: "built and gated at start; serving it")
        Log.notice("rollout: pending \(pending) built and gated at start; serving it")
        return model
    }

    private static func refuse(_ digest: Digest, kind: RefusalKind, reason: String, in state: inout RolloutState) {
        state.refuse(digest, kind: kind, reason: reason)
        Log.warning("rollout: refused pending \(digest) at start: \(reason)")
    }
}
