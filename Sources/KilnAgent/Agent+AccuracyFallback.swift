import KilnCore
import KilnInference
import KilnReference
import KilnRegistry

extension Agent {
    /// The first engine, through the accuracy gate: when the gate refuses a non-reference engine
    /// and the backend was `auto`, the agent says so and serves on the reference backend (isolated
    /// like every other build when the factory isolates); when the user forced the backend, the
    /// refusal ends the run (exit 3) with the reason.
    func makeFirstEngine(model: ModelSource, annotations: KilnAnnotations?, factory: EngineFactory) async throws -> (ActiveEngine, PreparedEngine) {
        do {
            return try await factory.make(model: model, hint: annotations?.preprocess, postprocess: annotations?.postprocess)
        } catch let refused as AccuracyGateError {
            guard configuration.backend == "auto" else {
                throw InvalidModelError("\(refused.description). --backend \(configuration.backend) was asked for, so Kiln does not fall back "
                                        + "to the reference backend; --backend auto would serve on it meanwhile")
            }
            Log.error("\(refused.description). Falling back to the reference backend (CPU) for \(model.name): slower, but its outputs are the model's")
            var fallback = factory
            let reference = ReferenceBackend()
            fallback.backend = factory.isolation.map { IsolatedBackend(inner: reference, child: $0) } ?? reference
            return try await fallback.make(model: model, hint: annotations?.preprocess, postprocess: annotations?.postprocess)
        }
    }
}
