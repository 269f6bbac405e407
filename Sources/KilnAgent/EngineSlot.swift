import KilnCore
import KilnInference
import KilnPostprocess
import KilnVideo
import Synchronization

/// A loaded engine ready to serve, with what the loop needs to feed it and what it reports.
public struct ActiveEngine: Sendable {
    /// The runner that executes inference.
    public var runner: any InferenceRunner
    /// How frames become this engine's input tensor.
    public var preprocess: PreprocessSpec
    /// The name of the image input the preprocessed tensor is bound to.
    public var inputName: String
    /// The model's display name (path or reference).
    public var model: String
    /// The model's content digest (`sha256:…`).
    public var digest: String
    /// The backend name (`reference`, `tensorrt`).
    public var backend: String
    /// The precision it was built in.
    public var precision: Precision
    /// The engine cache key it was loaded from, if any.
    public var engineKey: String?
    /// Whether the input's batch axis is dynamic, so several streams can share one call.
    public var dynamicBatch: Bool
    /// The largest batch the engine accepts (1 for static batch).
    public var maxBatch: Int
    /// The image input's size and the rule that chose it (nil when not decided by `EngineFactory`).
    public var inputSize: InputSize?
    /// Class names: the artifact's, else the model's metadata (Ultralytics `names`); empty when none.
    public var labels: [String] = []
    /// Postprocessing settings shipped in the model's artifact (they change with rollouts).
    public var postprocess: PostprocessSettings?

    /// Creates an active engine; `inputName` defaults to the runner's first input.
    public init(runner: any InferenceRunner, preprocess: PreprocessSpec, inputName: String? = nil, model: String,
                digest: String, backend: String, precision: Precision = .fp32, engineKey: String? = nil, maxBatch: Int = 8) {
        self.runner = runner
        self.preprocess = preprocess
        let name = inputName ?? runner.inputs.first?.name ?? "input"
        self.inputName = name
        self.model = model
        self.digest = digest
        self.backend = backend
        self.precision = precision
        self.engineKey = engineKey
        let first = runner.inputs.first { $0.name == name }
        let dynamic = first?.shape.first.map { $0 == nil } ?? false
        self.dynamicBatch = dynamic
        self.maxBatch = dynamic ? maxBatch : 1
    }
}

/// The engine the loop serves from, swappable between two frames.
///
/// The inference thread reads `current` once per engine call and keeps that reference for the
/// call, so a swap takes effect on the next call: no frame is dropped, none runs twice. Each
/// engine gets a generation number; per-generation health (frames, errors, latency) lets a
/// rollout's probation judge the new engine alone.
public final class EngineSlot: Sendable {
    /// Health counters of one generation.
    public struct Health: Sendable {
        /// Frames served.
        public var frames = 0
        /// Engine calls that threw.
        public var errors = 0
        /// Recent inference latencies in seconds (the last 512).
        public var recentInferSeconds: [Double] = []

        /// The p99 of `recentInferSeconds`, in seconds (0 when empty).
        public var p99: Double {
            Percentile.nearestRank(99, of: recentInferSeconds) ?? 0
        }
    }

    private struct State {
        var engine: ActiveEngine
        var generation: Int
        var health: [Int: Health]
    }

    private let state: Mutex<State>

    /// Creates a slot serving `engine` as generation 1.
    public init(_ engine: ActiveEngine) {
        state = Mutex(State(engine: engine, generation: 1, health: [1: Health()]))
    }

    /// The engine to use for the next call, with its generation.
    public var current: (engine: ActiveEngine, generation: Int) {
        state.withLock { ($0.engine, $0.generation) }
    }

    /// Replaces the engine; returns the new generation. The previous engine finishes its call.
    @discardableResult
    public func swap(to engine: ActiveEngine) -> Int {
        state.withLock { s in
            s.engine = engine
            s.generation += 1
            s.health[s.generation] = Health()
            s.health = s.health.filter { $0.key >= s.generation - 4 }
            return s.generation
        }
    }

    /// Records one engine call's outcome for `generation`.
    public func report(generation: Int, frames: Int, inferSeconds: Double?, failed: Bool) {
        state.withLock { s in
            guard var h = s.health[generation] else { return }
            if failed {
                h.errors += 1
            } else {
                h.frames += frames
                if let inferSeconds {
                    h.recentInferSeconds.append(inferSeconds)
                    if h.recentInferSeconds.count > 512 { h.recentInferSeconds.removeFirst() }
                }
            }
            s.health[generation] = h
        }
    }

    /// Health of `generation` so far.
    public func health(generation: Int) -> Health {
        state.withLock { $0.health[generation] ?? Health() }
    }
}
