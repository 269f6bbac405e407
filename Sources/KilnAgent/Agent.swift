import Foundation
import Glibc
import KilnCore
import KilnInference
import KilnReference
import KilnPostprocess
import KilnRegistry
import KilnRollout
import KilnService
import KilnTelemetry
import KilnVideo
import Synchronization

/// The agent, assembled from an `AgentConfiguration`: the composition root.
///
/// `run()` resolves the model (a file, a pull, or the rollout state of a followed reference),
/// prepares its engine through the cache, then runs the frame loop with its background
/// services under one `Supervisor`: telemetry (metrics server, push, systemd watchdog,
/// sensors), the rollout controller when following, and configuration reloads.
/// `shutdownGracefully()` (SIGINT/SIGTERM) drains the loop and `run()` returns the report;
/// `reload()` (SIGHUP) re-reads the configuration file and polls the followed reference now.
public final class Agent: Sendable {
    /// What this agent serves and how.
    public let configuration: AgentConfiguration
    /// Metrics, health endpoints and systemd notifications of this run.
    public let telemetry: AgentTelemetry

    /// What exists once the engine serves.
    private struct Serving: Sendable {
        var slot: EngineSlot
        var supervisor: Supervisor
    }
    private let serving = Mutex<Serving?>(nil)
    private let rollout = Mutex<RolloutDriver?>(nil)
    private let shutdownRequested = Mutex(false)
    /// Delivered and dropped results of the `--results` sink, for the report.
    private let resultCounts = Mutex<RunReport.Results?>(nil)
    private let reloads = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    /// The model reference served now, as the configuration file names it.
    let servedText: Mutex<String?>

    /// Assembles an agent; nothing runs until `run()`.
    public init(configuration: AgentConfiguration) {
        self.configuration = configuration
        telemetry = AgentTelemetry(metricsAddress: configuration.metricsAddress, pushURL: configuration.pushURL,
                                   pushInterval: configuration.pushInterval, controlToken: configuration.controlToken)
        if case .reference(let text) = configuration.model { servedText = Mutex(text) } else { servedText = Mutex(nil) }
    }

    /// The engine serving now (nil until the first is ready).
    public var servingEngine: ActiveEngine? { serving.withLock { $0?.slot.current.engine } }

    /// The rollout state of the followed reference (nil when not following or not yet running).
    public var rolloutState: RolloutState? { rollout.withLock { $0 }?.snapshot() }

    /// SIGHUP: re-read the configuration file (a changed model is swapped in between two
    /// frames) and poll the followed reference now. Queued while the engine is prepared.
    public func reload() {
        reloads.continuation.yield()
        rollout.withLock { $0 }?.trigger()
    }

    /// SIGINT/SIGTERM: stop taking frames, drain the queued ones, and let `run()` return the
    /// report. Before the engine serves it makes `run()` stop as soon as the engine is ready.
    public func shutdownGracefully() {
        shutdownRequested.withLock { $0 = true }
        serving.withLock { $0 }?.supervisor.shutdownGracefully()
    }

    /// Runs the agent to its end (the sources end, a limit is reached, or a graceful shutdown)
    /// and returns the report.
    public func run() async throws -> RunReport {
        let signals = configuration.handlesSignals ? watchSignals() : nil
        defer { signals?.cancel() }
        let c = configuration
        // A malformed reference is a usage error, reported before anything is opened.
        if case .reference(let text) = c.model { _ = try ModelReference(parsing: text) }
        var sources = try FrameSources.make(c.sources)
        var factory = try EngineFactory.forDevice(c.device, cache: c.cache, backend: c.backend, precision: c.precision,
                                                  threads: c.threads, preprocess: c.preprocess, streams: sources.count,
                                                  sourceSize: sources.first?.frameSize,
                                                  engineBuildChild: c.engineBuildChild, isolation: c.isolation, catalog: c.backends)
        // /metrics and /status answer while the model is pulled, built and gated.
        telemetry.setStatus { Agent.preparingStatusJSON() }
        try telemetry.startServer()
        defer { telemetry.stopServer() }
        if factory.backend.name != ReferenceBackend().name, let first = sources.first {
            // The accuracy gate compares engines on the device's own frames; a file loses none of them.
            let (source, frames) = try await BlockingWork.run("kiln-gate-frames") {
                try ReplayingSource.readAhead(first, count: EngineFactory.accuracyGateFrameCount)
            }
            sources[0] = source
            factory.gateFrames = frames
        }
        let model: ModelSource, annotations: KilnAnnotations?
        switch c.model {
        case .source(let source):
            (model, annotations) = (source, nil)
        case .reference(let text):
            let reference = try ModelReference(parsing: text)
            if let follow = c.follow {
                let driver = try await RolloutDriver.start(reference, follow: follow, registry: c.registry ?? RegistryAccess(), factory: factory,
                                                           buildWhileServing: c.device.profile.buildWhileServing)
                rollout.withLock { $0 = driver }
                telemetry.addAction(path: "/rollout/poll") { [driver] in
                    driver.trigger()
                    return "polling \(text) now\n"
                }
                (model, annotations) = (driver.source, driver.serving.annotations)
            } else {
                (model, annotations) = try await (c.registry ?? RegistryAccess()).resolve(reference, text: text)
            }
        }
        let annotator = try makeAnnotator()
        let postprocessor = try makePostprocessor(method: annotations?.postprocess?.method, annotator: annotator)
        return try await serve(model: model, annotations: annotations, sources: sources, factory: factory, postprocessor: postprocessor,
                               annotator: annotator)
    }

    /// The annotator: per-class counts always; `/snapshot.png` with a metrics server; saved
    /// frames with `--save-frames`.
    private func makeAnnotator() throws -> FrameAnnotator {
        let c = configuration
        let annotator = try FrameAnnotator(snapshots: c.metricsAddress != nil, save: c.saveFrames, metrics: telemetry.metrics)
        if annotator.snapshots {
            telemetry.addResource(path: "/snapshot.png") { query in Agent.snapshot(annotator, stream: query["stream"]) }
        }
        return annotator
    }

    /// `GET /snapshot.png[?stream=NAME]`: the latest kept frame with its detections drawn.
    static func snapshot(_ annotator: FrameAnnotator, stream: String?) -> HTTPResource {
        if let stream, !annotator.snapshotStreams.contains(stream) {
            let known = annotator.snapshotStreams
            return .text("404 Not Found", "no frame of stream \(stream.prefix(64)) yet; "
                         + (known.isEmpty ? "no stream has finished a frame yet" : "streams: \(known.joined(separator: ", "))"))
        }
        guard let png = annotator.snapshotPNG(stream: stream) else {
            return .text("503 Service Unavailable", "no frame has been served yet; retry in a moment")
        }
        return HTTPResource(contentType: "image/png", body: png)
    }

    /// The postprocessor: `--postprocess`, else the artifact's `method`, else the default choice.
    private func makePostprocessor(method: String?, annotator: FrameAnnotator) throws -> any FramePostprocessor {
        let p = configuration.postprocess
        let labels = try p.labelsPath.map { try loadLabels(path: $0) } ?? p.defaultLabels
        let metrics = telemetry.metrics
        let sink = try p.results.map { text in
            var destination = try ResultSink.Destination.parse(text)
            if case .mqtt(var endpoint) = destination {
                try endpoint.applyCredentials(from: configuration.registry?.client.configuration.auth ?? AuthFile.load())
                destination = .mqtt(endpoint)
            }
            if case .webhook(var endpoint) = destination {
                endpoint.maxBatch = max(1, p.webhookBatch)
                endpoint.maxDelay = max(0, p.webhookInterval)
                destination = .webhook(endpoint)
            }
            let kind = destination.kind
            resultCounts.withLock { $0 = RunReport.Results(sink: kind) }
            return try ResultSink(destination, queueCapacity: p.queueCapacity) { [self] delivered, dropped in
                metrics.recordResults(sink: kind, delivered: delivered, dropped: dropped)
                self.resultCounts.withLock { $0?.delivered += delivered; $0?.dropped += dropped }
            }
        }
        let choice = p.flags.method ?? method ?? p.choice
        if p.flags.method == nil, let method { Log.info("postprocess \(method), as the artifact says") }
        return try PostprocessChoice.make(choice, labels: labels, sink: sink, detection: p.detection, flags: p.flags, annotator: annotator)
    }

    /// SIGHUP reloads; SIGINT/SIGTERM drain, or exit at once before anything serves (the
    /// engine cache never keeps a half-written file).
    private func watchSignals() -> SignalWatcher {
        SignalWatcher { [self] signal in
            if signal == SIGHUP {
                Log.notice("SIGHUP: reloading")
                reload()
                return
            }
            guard serving.withLock({ $0 }) != nil else {
                Log.notice("signal \(signal) before the engine serves: exiting")
                exit(128 + signal)
            }
            Log.notice("signal \(signal): draining and stopping")
            shutdownGracefully()
        }
    }

    /// Prepares the engine and runs the loop with its services to the end.
    private func serve(model: ModelSource, annotations: KilnAnnotations?, sources: [any FrameSource], factory: EngineFactory,
                       postprocessor: any FramePostprocessor, annotator: FrameAnnotator) async throws -> RunReport {
        let c = configuration
        var loop = c.loop
        if annotator.snapshots || annotator.save != nil {
            loop.keepPixels = { stream, index in annotator.wantsPixels(stream: stream, index: index) }
        }
        let (engine, prepared) = try await makeFirstEngine(model: model, annotations: annotations, factory: factory)
        Log.info("engine \(prepared.outcome) for \(model.name): \(engine.backend), key \(prepared.key.prefix(12)), "
                 + "input \(engine.inputName) \(engine.preprocess.text)")
        let slot = EngineSlot(engine)
        let statistics = LoopStatistics()
        var observers = FrameLoop.Observers(report: { summary in
            let stages = summary.latencyMilliseconds
            Log.info(String(format: "%d frames, %.1f fps, %d dropped, infer p50 %.2f ms, end-to-end p99 %.2f ms",
                            summary.frames, summary.fps, summary.dropped, stages["infer"]?.p50 ?? 0, stages["end_to_end"]?.p99 ?? 0))
        })
        observers = observers.merged(with: telemetry.observers(statistics: { statistics }))
        let frameLoop = FrameLoop(sources: sources, slot: slot, postprocessor: postprocessor, configuration: loop,
                                  observers: observers, statistics: statistics)
        var services: [any Service] = []
        let telemetry = self.telemetry
        if let driver = rollout.withLock({ $0 }) {
            services.append(driver.service(slot: slot, factory: factory) { state in
                telemetry.metrics.setRolloutState(state.metricState.rawValue)
            })
        }
        if let path = c.configurationFile {
            let reloads = self.reloads.stream
            services.append(ClosureService("configuration reload") { [self] in
                for await _ in reloads { await reloadConfiguration(path, slot: slot, factory: factory) }
            })
        }
        telemetry.setStatus { [self] in Agent.statusJSON(slot: slot, statistics: statistics, rollout: rolloutState) }
        services += try telemetry.services()
        let profile = c.device.profile.name
        let f = prepared.identity.fields
        telemetry.engineReady(engine, prepared, profile: profile, sm: f["sm"] ?? "", cuda: f["cuda"] ?? f["driver"] ?? "",
                              tensorrt: f["tensorrt"] ?? "")
        try? telemetry.notifier.ready(status: "serving \(engine.model) on \(engine.backend)")
        defer { try? telemetry.notifier.stopping() }
        let summary = Mutex<LoopSummary?>(nil)
        let primary = ClosureService("frame loop", onShutdown: { frameLoop.stop() }) {
            let s = try await frameLoop.run()
            summary.withLock { $0 = s }
        }
        let supervisor = Supervisor(primary: primary, background: services)
        serving.withLock { $0 = Serving(slot: slot, supervisor: supervisor) }
        if shutdownRequested.withLock({ $0 }) { supervisor.shutdownGracefully() }
        try await supervisor.run()
        let current = slot.current.engine
        if let failure = frameLoop.everyFrameFailed {
            throw EveryFrameFailedError(failedFrames: failure.failed, model: current.model, firstError: "\(failure.first)")
        }
        // A clean end: not counted as an abnormal exit of the digest served.
        rollout.withLock { $0 }?.finish()
        var reportPrepared = prepared
        if current.digest != engine.digest { reportPrepared.key = current.engineKey ?? prepared.key }
        var report = RunReport(summary: summary.withLock { $0 } ?? frameLoop.statistics.summary(), engine: current,
                               prepared: reportPrepared, profile: profile)
        report.results = resultCounts.withLock { $0 }
        return report
    }
}

extension Agent {
    /// `/status` before the first engine serves: the steps running now (pull, build, gate).
    static func preparingStatusJSON() -> String {
        struct Preparing: Encodable {
            var state = "preparing"
            var progress: [ProgressSnapshot]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(Preparing(progress: ProgressHub.shared.active))).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

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
            var progress: [ProgressSnapshot]
            enum CodingKeys: String, CodingKey {
                case model, digest, backend, precision, generation, loop, rollout, progress
                case engineKey = "engine_key"
            }
        }
        let status = Status(model: engine.model, digest: engine.digest, backend: engine.backend, precision: engine.precision.rawValue,
                            engineKey: engine.engineKey, generation: generation, loop: statistics.summary(),
                            rollout: rollout, progress: ProgressHub.shared.active)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(status)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
