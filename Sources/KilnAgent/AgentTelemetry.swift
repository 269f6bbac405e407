import Foundation
import KilnCore
import KilnService
import KilnTelemetry
import Synchronization

/// Connects the frame loop to the outside: Prometheus metrics (scraped and pushed), health,
/// systemd notifications and the Jetson sensors.
///
/// It hands the loop its observers and the supervisor its background services; the loop itself
/// knows nothing of HTTP or systemd.
public final class AgentTelemetry: Sendable {
    /// The metric families.
    public let metrics: KilnMetrics
    /// Heartbeat of the loop: the watchdog pets systemd only while frames flow.
    public let health: LoopHealth
    /// systemd's notification socket (a no-op outside systemd).
    public let notifier: SystemdNotifier
    /// `--metrics-addr`: where `/metrics`, `/healthz` and `/status` are served; nil for nowhere.
    public let metricsAddress: String?
    /// `--push-url`: the Pushgateway metrics are pushed to; nil for none.
    public let pushURL: String?
    /// The instance label for pushes.
    public let instance: String
    /// Seconds between pushes.
    public let pushInterval: Double
    /// The bearer token control routes (`addAction`) require; nil turns them off.
    public let controlToken: String?
    private let statusJSON: Mutex<@Sendable () -> String>
    private let server: Mutex<MetricsServer?> = Mutex(nil)
    private let actions = Mutex<[String: @Sendable () -> String]>([:])
    private let resources = Mutex<[String: @Sendable ([String: String]) -> HTTPResource]>([:])
    /// The progress of pulls, builds, gates and probation as metrics.
    public let progressMetrics: ProgressMetrics
    private let progressObservation: ProgressHub.Observation
    /// Set once the first engine serves: from then on `STATUS=` reports serving, not steps.
    private let serving = ServingFlag()
    private final class ServingFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// Creates the telemetry of one agent run.
    public init(metricsAddress: String?, pushURL: String?, instance: String = ProcessInfo.processInfo.hostName,
                pushInterval: Double = 15, metrics: KilnMetrics = KilnMetrics(), controlToken: String? = nil) {
        self.controlToken = controlToken
        self.metrics = metrics
        self.health = LoopHealth()
        self.notifier = SystemdNotifier()
        self.metricsAddress = metricsAddress
        self.pushURL = pushURL
        self.instance = instance
        self.pushInterval = pushInterval
        self.statusJSON = Mutex({ "{}" })
        let progressMetrics = ProgressMetrics(registry: metrics.registry)
        self.progressMetrics = progressMetrics
        let notifier = self.notifier, serving = self.serving
        let lastStatus = Mutex(-Double.infinity)
        progressObservation = ProgressHub.shared.observe { event in
            progressMetrics.record(event)
            // systemd's STATUS= names the step while the model is not yet serving (at most once a second).
            guard !serving.value.load(ordering: .relaxed), case .updated(let snapshot) = event else { return }
            let now = MonotonicClock.now
            guard lastStatus.withLock({ last in
                guard now - last >= 1 else { return false }
                last = now
                return true
            }) else { return }
            try? notifier.status(snapshot.statusLine)
        }
    }

    deinit { ProgressHub.shared.removeObserver(progressObservation) }

    /// Starts the metrics server now (before the model is pulled and built), so `/metrics` and
    /// `/status` show the steps on the way to serving; `services()` then runs this server.
    public func startServer() throws {
        guard let address = metricsAddress, server.withLock({ $0 }) == nil else { return }
        let health = self.health
        let server = MetricsServer(address: address, metrics: metrics, status: { [self] in self.statusJSON.withLock { $0 }() },
                                   health: { health.isHealthy() })
        server.setControlToken(controlToken)
        try server.start()
        self.server.withLock { $0 = server }
    }

    /// Stops a server started early when the agent ends before serving.
    public func stopServer() {
        server.withLock { $0 }?.stop()
    }

    /// Sets what `/status` returns.
    public func setStatus(_ body: @escaping @Sendable () -> String) { statusJSON.withLock { $0 = body } }

    /// Adds a POST route to the metrics server (e.g. `/rollout/poll`); see `MetricsServer.addAction`.
    public func addAction(path: String, _ handler: @escaping @Sendable () -> String) {
        actions.withLock { $0[path] = handler }
        server.withLock { $0 }?.addAction(path: path, handler)
    }

    /// Adds a GET route to the metrics server (e.g. `/snapshot.png`); see `MetricsServer.addResource`.
    public func addResource(path: String, _ handler: @escaping @Sendable ([String: String]) -> HTTPResource) {
        resources.withLock { $0[path] = handler }
        server.withLock { $0 }?.addResource(path: path, handler)
    }

    /// The port the metrics server listens on, once started (0 before).
    public var boundPort: Int { server.withLock { $0?.port ?? 0 } }

    /// Observers that record every frame and drop, and keep the loop's heartbeat.
    public func observers(statistics: @escaping @Sendable () -> LoopStatistics?) -> FrameLoop.Observers {
        let metrics = self.metrics, health = self.health, notifier = self.notifier
        return FrameLoop.Observers(
            frameFinished: { stream, stages in
                metrics.recordFrame(stream: stream, stages: stages)
                health.beat()
            },
            framesDropped: { stream, reason, count in metrics.recordDrop(stream: stream, reason: reason, count: count) },
            report: { summary in
                for (name, s) in summary.streams { metrics.setFPS(stream: name, s.recentFPS) }
                let fps = summary.streams.values.reduce(0) { $0 + $1.recentFPS }
                try? notifier.status(String(format: "serving %.1f fps, %d frames, %d dropped", fps, summary.frames, summary.dropped))
            })
    }

    /// Records the engine being served (model info, device info, cache lookup and build).
    public func engineReady(_ engine: ActiveEngine, _ prepared: PreparedEngine, profile: String, sm: String,
                            cuda: String, tensorrt: String) {
        serving.value.store(true, ordering: .relaxed)
        metrics.setModel(name: engine.model, digest: engine.digest, backend: engine.backend, precision: engine.precision.rawValue)
        metrics.recordCacheLookup(hit: prepared.outcome == .hit)
        if prepared.outcome != .hit { metrics.recordBuild(result: "success", seconds: prepared.buildSeconds) }
        metrics.setDeviceInfo(profile: profile, sm: sm, tensorrt: tensorrt, cuda: cuda)
    }

    /// The background services: the metrics server, the pusher, the watchdog, the sensors.
    public func services() throws -> [any Service] {
        var services: [any Service] = []
        if metricsAddress != nil {
            try startServer()
            if let server = server.withLock({ $0 }) {
                for (path, handler) in actions.withLock({ $0 }) { server.addAction(path: path, handler) }
                for (path, handler) in resources.withLock({ $0 }) { server.addResource(path: path, handler) }
                services.append(ClosureService("metrics server") { try await server.run() })
            }
        }
        if let pushURL {
            let pusher = try MetricsPusher(gateway: pushURL, instance: instance, interval: pushInterval,
                                           exposition: { [metrics] in metrics.exposition() })
            // run() ends with a final push that survives cancellation.
            services.append(ClosureService("metrics push") { try await pusher.run() })
        }
        if let watchdog = SystemdWatchdog.fromEnvironment(health: health) {
            services.append(ClosureService("systemd watchdog") { try await watchdog.run() })
        }
        let sensors = JetsonSensors()
        if sensors.isJetson {
            let sampler = JetsonSensorSampler(sensors: sensors, metrics: metrics)
            services.append(ClosureService("jetson sensors") { try await sampler.run() })
        }
        return services
    }
}
