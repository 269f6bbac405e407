import KilnCore
import KilnTelemetry

/// The final result of `kiln run` / `kiln demo`, printed as the last line of stdout with `--json`.
public struct RunReport: Sendable, Codable {
    /// How the engine was obtained.
    public struct Engine: Sendable, Codable {
        /// `hit` or `miss`.
        public var cache: String
        /// The engine cache key.
        public var key: String
        /// Seconds spent building (0 on a hit).
        public var buildSeconds: Double
        /// Seconds spent loading.
        public var loadSeconds: Double
        /// The backend identity the engine is bound to.
        public var identity: String
        /// The precision it was built in.
        public var precision: String

        enum CodingKeys: String, CodingKey {
            case cache, key, identity, precision
            case buildSeconds = "build_seconds"
            case loadSeconds = "load_seconds"
        }
    }

    /// The model served.
    public struct Model: Sendable, Codable {
        /// Path or reference.
        public var name: String
        /// `sha256:…` of the ONNX bytes.
        public var digest: String
    }

    /// Frames finished.
    public var frames: Int
    /// Frames dropped.
    public var dropped: Int
    /// Frames dropped, by reason (`stale`: a live source's frame superseded while the model was busy).
    public var droppedByReason: [String: Int]
    /// Frames per second.
    public var fps: Double
    /// Seconds the loop ran.
    public var seconds: Double
    /// The backend name.
    public var backend: String
    /// The device profile.
    public var profile: String
    /// The model.
    public var model: Model
    /// The engine.
    public var engine: Engine
    /// Per-stage latency percentiles in milliseconds.
    public var latencyMilliseconds: [String: LoopSummary.Percentiles]
    /// Per-stream counts.
    public var streams: [String: LoopSummary.Stream]
    /// The image input's size and the rule that chose it.
    public var input: InputSize?
    /// What became of the results sent to `--results` (nil without one).
    public var results: Results?

    /// Results given to the `--results` sink: delivered, or dropped by a slow or dead receiver.
    public struct Results: Sendable, Codable, Equatable {
        /// The sink kind: stdout, file, unix, mqtt, http.
        public var sink: String
        /// Results the receiver took (written; PUBACK; HTTP 2xx).
        public var delivered: Int
        /// Results dropped (queue full, receiver gone or refusing, left at the end).
        public var dropped: Int

        /// Creates a count.
        public init(sink: String, delivered: Int = 0, dropped: Int = 0) {
            self.sink = sink
            self.delivered = delivered
            self.dropped = dropped
        }
    }

    enum CodingKeys: String, CodingKey {
        case frames, dropped, fps, seconds, backend, profile, model, engine, streams, input, results
        case latencyMilliseconds = "latency_ms"
        case droppedByReason = "dropped_by_reason"
    }

    /// Combines the loop's summary with what the session knows about the engine.
    public init(summary: LoopSummary, engine: ActiveEngine, prepared: PreparedEngine, profile: String) {
        frames = summary.frames
        dropped = summary.dropped
        droppedByReason = summary.droppedByReason
        fps = summary.fps
        seconds = summary.seconds
        backend = engine.backend
        self.profile = profile
        model = Model(name: engine.model, digest: engine.digest)
        self.engine = Engine(cache: prepared.outcome.jsonValue, key: prepared.key, buildSeconds: prepared.buildSeconds,
                             loadSeconds: prepared.loadSeconds, identity: prepared.identity.description,
                             precision: prepared.options.precision.rawValue)
        latencyMilliseconds = summary.latencyMilliseconds
        streams = summary.streams
        input = engine.inputSize
    }

    /// The human-readable summary printed at the end of a run.
    public var text: String {
        var lines = [
            "model     \(model.name) (\(model.digest.prefix(19))…)",
            "engine    \(backend), cache \(engine.cache), key \(engine.key.prefix(12)), "
                + String(format: "build %.2f s, load %.3f s", engine.buildSeconds, engine.loadSeconds),
            "profile   \(profile)",
            "input     " + (input?.text ?? "?"),
            String(format: "frames    %d in %.1f s, %.1f fps, %d dropped", frames, seconds, fps, dropped)
                + (droppedByReason.isEmpty ? "" : " (" + droppedByReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"),
        ]
        if let results { lines.append("results   \(results.sink): \(results.delivered) delivered, \(results.dropped) dropped") }
        lines.append("latency   (ms)          p50       p90       p99")
        for stage in PipelineStage.allCases {
            guard let p = latencyMilliseconds[stage.rawValue] else { continue }
            lines.append("  " + stage.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0)
                         + String(format: "%9.3f %9.3f %9.3f", p.p50, p.p90, p.p99))
        }
        if streams.count > 1 {
            for name in streams.keys.sorted() {
                let s = streams[name]!
                lines.append(String(format: "stream    %@: %d frames, %d dropped", name, s.frames, s.dropped))
            }
        }
        return lines.joined(separator: "\n")
    }
}
