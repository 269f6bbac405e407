import Foundation
import Glibc
import KilnCore
import KilnInference
import KilnRegistry
import KilnVideo
import Synchronization

/// One run of the agent: prepare the engine, then serve frames until done, with the background
/// services (telemetry, rollouts) under one supervisor and signals wired to a clean drain.
///
/// SIGINT and SIGTERM stop the loop (queued frames drain, the summary is printed); SIGHUP calls
/// `onReload` (re-read configuration, poll the registry now).
public struct RunSession: Sendable {
    /// Makes engines for this session (and for rollouts during it).
    public var factory: EngineFactory
    /// The model to serve first.
    public var model: ModelSource
    /// The artifact's preprocessing annotation, if the model came from a registry.
    public var preprocessHint: String?
    /// Where frames come from.
    public var sources: [any FrameSource]
    /// Output decoding.
    public var postprocessor: any FramePostprocessor
    /// Loop limits and reporting.
    public var loop: FrameLoop.Configuration
    /// The device profile's name, for reports.
    public var profile: String
    /// Telemetry and sinks.
    public var observers: FrameLoop.Observers
    /// Services to run beside the loop, made once the slot exists (telemetry, rollouts, watchdog).
    public var background: @Sendable (EngineSlot, FrameLoop) -> [any Service]
    /// Called on SIGHUP.
    public var onReload: (@Sendable () -> Void)?
    /// The rollout state for `/status` (`kiln run --follow`), if rollouts run.
    public var rolloutStatus: (@Sendable () -> RolloutState?)? = nil
    /// Called once the engine is ready, before the first frame.
    public var onReady: (@Sendable (ActiveEngine, PreparedEngine) -> Void)?
    /// Metrics, health endpoints, systemd notifications; nil for none.
    public var telemetry: AgentTelemetry?

    /// Creates a session.
    public init(factory: EngineFactory, model: ModelSource, preprocessHint: String? = nil, sources: [any FrameSource],
                postprocessor: any FramePostprocessor = NoPostprocessor(), loop: FrameLoop.Configuration = .init(),
                profile: String, observers: FrameLoop.Observers = .init(),
                background: @escaping @Sendable (EngineSlot, FrameLoop) -> [any Service] = { _, _ in [] },
                onReload: (@Sendable () -> Void)? = nil,
                onReady: (@Sendable (ActiveEngine, PreparedEngine) -> Void)? = nil, telemetry: AgentTelemetry? = nil) {
        self.telemetry = telemetry
        self.factory = factory
        self.model = model
        self.preprocessHint = preprocessHint
        self.sources = sources
        self.postprocessor = postprocessor
        self.loop = loop
        self.profile = profile
        self.observers = observers
        self.background = background
        self.onReload = onReload
        self.onReady = onReady
    }

    /// Prepares the engine, runs the loop to its end, and returns the report.
    ///
    /// Signals are watched from the start: a SIGHUP while the engine is still being prepared (a
    /// `systemctl reload` during a long TensorRT build) is queued for the reload service instead
    /// of killing the process; SIGINT/SIGTERM before the loop exists exit at once (nothing is
    /// served yet, and the engine cache never keeps a half-written file).
    public func run() async throws -> RunReport {
        let onReload = self.onReload
        let servingLoop = Mutex<FrameLoop?>(nil)
        let signals = SignalWatcher { signal in
            if signal == SIGHUP {
                Log.notice("SIGHUP: reloading")
                onReload?()
                return
            }
            guard let loop = servingLoop.withLock({ $0 }) else {
                Log.notice("signal \(signal) before the engine serves: exiting")
                exit(128 + signal)
            }
            Log.notice("signal \(signal): draining and stopping")
            loop.stop()
        }
        defer { signals.cancel() }
        let (engine, prepared) = try await factory.make(model: model, hint: preprocessHint)
        Log.info("engine \(prepared.outcome) for \(model.name): \(engine.backend), key \(prepared.key.prefix(12)), "
                 + "input \(engine.inputName) \(engine.preprocess.text)")
        let slot = EngineSlot(engine)
        var observers = self.observers
        let userReport = observers.report
        observers.report = { summary in
            userReport?(summary)
            let stages = summary.latencyMilliseconds
            Log.info(String(format: "%d frames, %.1f fps, %d dropped, infer p50 %.2f ms, end-to-end p99 %.2f ms",
                            summary.frames, summary.fps, summary.dropped, stages["infer"]?.p50 ?? 0, stages["end_to_end"]?.p99 ?? 0))
        }
        let statistics = LoopStatistics()
        if let telemetry { observers = observers.merged(with: telemetry.observers(statistics: { statistics })) }
        let frameLoop = FrameLoop(sources: sources, slot: slot, postprocessor: postprocessor, configuration: loop,
                                  observers: observers, statistics: statistics)
        servingLoop.withLock { $0 = frameLoop }
        var services = background(slot, frameLoop)
        if let telemetry {
            let rolloutStatus = self.rolloutStatus
            telemetry.setStatus { RunSession.statusJSON(slot: slot, statistics: statistics, rollout: rolloutStatus?()) }
            services += try telemetry.services()
        }
        onReady?(engine, prepared)
        try? telemetry?.notifier.ready(status: "serving \(engine.model) on \(engine.backend)")
        let summaryBox = SummaryBox()
        let primary = ClosureService("frame loop") { summaryBox.set(try await frameLoop.run()) }
        defer { try? telemetry?.notifier.stopping() }
        try await Supervisor(primary: primary, background: services).run()
        let current = slot.current.engine
        if let failure = frameLoop.everyFrameFailed {
            throw EveryFrameFailedError(failedFrames: failure.failed, model: current.model, firstError: "\(failure.first)")
        }
        var reportPrepared = prepared
        if current.digest != engine.digest { reportPrepared.key = current.engineKey ?? prepared.key }
        return RunReport(summary: summaryBox.get() ?? frameLoop.statistics.summary(), engine: current, prepared: reportPrepared,
                         profile: profile)
    }
}

extension RunSession {
    /// The agent's `/status` document: the engine served, the loop's statistics and, when
    /// following a reference, the rollout state.
    static func statusJSON(slot: EngineSlot, statistics: LoopStatistics, rollout: RolloutState? = nil) -> String {
        let (engine, generation) = slot.current
        struct Status: Encodable {
            var model: String
            var digest: String
            var backend: String
            var precision: String
            var engineKey: String?
            var generation: Int
            var loop: LoopSummary
            var rollout: RolloutState?
            enum CodingKeys: String, CodingKey {
                case model, digest, backend, precision, generation, loop, rollout
                case engineKey = "engine_key"
            }
        }
        let status = Status(model: engine.model, digest: engine.digest, backend: engine.backend, precision: engine.precision.rawValue,
                            engineKey: engine.engineKey, generation: generation, loop: statistics.summary(),
                            rollout: rollout)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(status)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// Carries the loop's summary out of its service.
private final class SummaryBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: LoopSummary?
    func set(_ s: LoopSummary) { lock.withLock { value = s } }
    func get() -> LoopSummary? { lock.withLock { value } }
}
