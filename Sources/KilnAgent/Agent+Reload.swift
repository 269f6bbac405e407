import Foundation
import KilnCore
import KilnRegistry
import KilnService

extension Agent {
    /// Re-reads the configuration file at `path`; a changed `model` is resolved, built and
    /// swapped in between two frames (the old engine serves until then, and keeps serving if
    /// anything fails). Other changes are reported and need a restart.
    func reloadConfiguration(_ path: String, slot: EngineSlot, factory: EngineFactory) async {
        try? telemetry.notifier.reloading()
        defer { try? telemetry.notifier.ready(status: "serving \(slot.current.engine.model)") }
        let served = servedText.withLock { $0 } ?? slot.current.engine.model
        do {
            let config = try KilnConfiguration.load(path: path)
            guard let text = config["model"], text != served else {
                Log.notice("reloaded \(path): model unchanged; changes to sources, metrics or build flags take effect on restart")
                return
            }
            let (model, annotations) = try await (configuration.registry ?? RegistryAccess()).resolve(try ModelReference(parsing: text), text: text)
            let (engine, prepared) = try await factory.make(model: model, hint: annotations?.preprocess, postprocess: annotations?.postprocess)
            _ = slot.swap(to: engine)
            servedText.withLock { $0 = text }
            telemetry.metrics.setModel(name: engine.model, digest: engine.digest, backend: engine.backend,
                                       precision: engine.precision.rawValue)
            telemetry.metrics.recordCacheLookup(hit: prepared.outcome == .hit)
            Log.notice("reloaded \(path): now serving \(text) (\(model.digest.prefix(19))…), engine \(prepared.outcome)")
        } catch {
            Log.error("reload of \(path) failed, still serving \(served): \(error)")
        }
    }
}
