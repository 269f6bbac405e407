import Synchronization

/// Kiln's metrics, by their exact published names, behind one typed facade.
///
/// The agent calls methods (`recordFrame`, `recordDrop`, `setFPS`, …) and never touches metric
/// names. Everything is thread-safe; `recordFrame` costs a dictionary lookup under a short lock
/// per stage plus atomics, so it is called once per frame from the loop's threads.
public final class KilnMetrics: Sendable {
    /// The registry the server and the pusher expose.
    public let registry: MetricsRegistry

    /// Latency histogram buckets in seconds: 0.5 ms to 10 s.
    public static let latencyBuckets: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 10,
    ]
    /// Engine-build histogram buckets in seconds: 1 s to 1 h (TensorRT builds on a Nano take many minutes).
    public static let buildBuckets: [Double] = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600]
    /// Every rollout state `kiln_rollout_state` reports (exactly one is 1).
    public static let rolloutStates = ["idle", "downloading", "building", "verifying", "switching", "rolled_back", "failed"]

    let frames: CounterFamily
    let dropped: CounterFamily
    let fps: GaugeFamily
    let latency: HistogramFamily
    let stageChildren: [Histogram]
    let modelInfo: GaugeFamily
    let builds: CounterFamily
    let buildSeconds: HistogramFamily
    let cacheLookups: CounterFamily
    let rollout: GaugeFamily
    let deviceInfo: GaugeFamily
    /// `kiln_gpu_load_ratio` (Jetson).
    public let gpuLoad: GaugeFamily
    /// `kiln_temperature_celsius{zone}` (Jetson).
    public let temperature: GaugeFamily
    /// `kiln_power_watts{rail}` (Jetson).
    public let power: GaugeFamily
    let fpsPerWatt: GaugeFamily
    let results: CounterFamily
    let detections: CounterFamily
    /// Per-class detection counters by class name; at most `maxDetectionClasses`, then `other`.
    private let detectionCounters = Mutex<[String: Counter]>([:])
    private let currentFPS = Mutex<[String: Double]>([:])
    /// Per-stream frame counters, cached by name so the hot path builds no label arrays.
    private let frameCounters = Mutex<[String: Counter]>([:])
    private let inputPowerWatts = Mutex<Double?>(nil)

    /// Registers every Kiln metric in `registry` (a fresh one by default).
    public init(registry: MetricsRegistry = MetricsRegistry()) {
        self.registry = registry
        frames = registry.counter("kiln_frames_total", help: "Frames fully processed, per stream.", labels: ["stream"])
        dropped = registry.counter(
            "kiln_frames_dropped_total", help: "Frames dropped, per stream and reason.", labels: ["stream", "reason"])
        fps = registry.gauge("kiln_fps", help: "Frames per second over the last window, per stream.", labels: ["stream"])
        let latency = registry.histogram(
            "kiln_latency_seconds", help: "Per-frame latency of each pipeline stage.", labels: ["stage"],
            buckets: Self.latencyBuckets)
        self.latency = latency
        stageChildren = PipelineStage.allCases.map { latency.labels($0.rawValue) }
        modelInfo = registry.gauge(
            "kiln_model_info", help: "The model being served (value 1).", labels: ["model", "digest", "backend", "precision"])
        builds = registry.counter("kiln_engine_builds_total", help: "Engine builds by result.", labels: ["result"])
        buildSeconds = registry.histogram(
            "kiln_engine_build_seconds", help: "Seconds each engine build took.", buckets: Self.buildBuckets)
        cacheLookups = registry.counter(
            "kiln_engine_cache_lookups_total", help: "Engine cache lookups by result (hit, miss).", labels: ["result"])
        rollout = registry.gauge(
            "kiln_rollout_state", help: "The rollout state machine's current state (value 1, others 0).", labels: ["state"])
        deviceInfo = registry.gauge(
            "kiln_device_info", help: "The device Kiln runs on (value 1).", labels: ["profile", "sm", "tensorrt", "cuda"])
        gpuLoad = registry.gauge("kiln_gpu_load_ratio", help: "GPU load from 0 to 1 (Jetson devfreq).")
        temperature = registry.gauge(
            "kiln_temperature_celsius", help: "Thermal zone temperatures (Jetson).", labels: ["zone"])
        power = registry.gauge("kiln_power_watts", help: "Power per INA3221 rail (Jetson).", labels: ["rail"])
        fpsPerWatt = registry.gauge(
            "kiln_fps_per_watt", help: "Frames per second per watt of board input power (Jetson).", labels: ["stream"])
        results = registry.counter(
            "kiln_results_total", help: "Frame results by sink (stdout, file, unix, mqtt, http) and outcome (delivered, dropped).",
            labels: ["sink", "outcome"])
        detections = registry.counter(
            "kiln_detections_total", help: "Objects detected, per class (the first \(Self.maxDetectionClasses) class names; the rest as other).",
            labels: ["class"])
        for r in ["hit", "miss"] { _ = cacheLookups.labels(r) }
        for r in ["success", "failure"] { _ = builds.labels(r) }
        setRolloutState("idle")
    }

    /// Records one processed frame of `stream` and its stage latencies in seconds (stages
    /// missing from `stages` are not recorded).
    public func recordFrame(stream: String, stages: [PipelineStage: Double]) {
        let counter = frameCounters.withLock { cache in
            if let c = cache[stream] { return c }
            let c = frames.labels(stream)
            cache[stream] = c
            return c
        }
        counter.increment()
        for (stage, seconds) in stages { stageChildren[stage.index].observe(seconds) }
    }

    /// Records `count` frames of `stream` dropped for `reason` (`stale`, `queue_full`, `driver`, `error`).
    public func recordDrop(stream: String, reason: String, count: Int = 1) {
        guard count > 0 else { return }
        dropped.labels(stream, reason).increment(by: UInt64(count))
    }

    /// Distinct class labels `kiln_detections_total` keeps; detections of further classes count as `other`.
    public static let maxDetectionClasses = 100

    /// Counts one detection per element of `classes` (class names, or ids as text), per class.
    public func recordDetections(classes: [String]) {
        guard !classes.isEmpty else { return }
        var counts: [String: UInt64] = [:]
        for c in classes { counts[c, default: 0] += 1 }
        let counters = detectionCounters.withLock { cache in
            counts.map { name, n -> (Counter, UInt64) in
                if let c = cache[name] { return (c, n) }
                let label = cache.count < Self.maxDetectionClasses ? String(name.prefix(100)) : "other"
                let c = detections.labels(label)
                if label != "other" { cache[name] = c }
                return (c, n)
            }
        }
        for (counter, n) in counters { counter.increment(by: n) }
    }

    /// Records results `delivered` to and `dropped` by the `sink` (a slow or dead receiver
    /// drops, never stalls the loop).
    public func recordResults(sink: String, delivered: Int, dropped: Int) {
        if delivered > 0 { results.labels(sink, "delivered").increment(by: UInt64(delivered)) }
        if dropped > 0 { results.labels(sink, "dropped").increment(by: UInt64(dropped)) }
    }

    /// Sets the current frames per second of `stream` (and its FPS per watt when power is known).
    public func setFPS(stream: String, _ value: Double) {
        fps.labels(stream).set(value)
        currentFPS.withLock { $0[stream] = value }
        if let watts = inputPowerWatts.withLock({ $0 }), watts > 0 {
            fpsPerWatt.labels(stream).set(value / watts)
        }
    }

    /// The FPS last set per stream (for `/status` and `STATUS=` lines).
    public var fpsByStream: [String: Double] { currentFPS.withLock { $0 } }

    /// Removes a stream's per-stream gauges (the stream ended); counters stay.
    public func removeStream(_ stream: String) {
        fps.remove(stream)
        fpsPerWatt.remove(stream)
        _ = currentFPS.withLock { $0.removeValue(forKey: stream) }
    }

    /// Sets the model being served; replaces the previous one.
    public func setModel(name: String, digest: String, backend: String, precision: String) {
        modelInfo.removeAll()
        modelInfo.labels(name, digest, backend, precision).set(1)
    }

    /// Records one engine build: `result` is `success` or `failure`; `seconds` it took.
    public func recordBuild(result: String, seconds: Double) {
        builds.labels(result).increment()
        buildSeconds.labels().observe(seconds)
    }

    /// Records one engine cache lookup.
    public func recordCacheLookup(hit: Bool) { cacheLookups.labels(hit ? "hit" : "miss").increment() }

    /// Sets the rollout state: `state` gets 1, every other known state 0.
    public func setRolloutState(_ state: String) {
        let known = Set(Self.rolloutStates + [state] + rollout.children.sorted().map { $0.0[0] })
        for s in known { rollout.labels(s).set(s == state ? 1 : 0) }
    }

    /// Sets the device description; replaces the previous one.
    public func setDeviceInfo(profile: String, sm: String, tensorrt: String, cuda: String) {
        deviceInfo.removeAll()
        deviceInfo.labels(profile, sm, tensorrt, cuda).set(1)
    }

    /// Publishes one Jetson sensor sample: GPU load, temperatures, rail power; updates FPS per watt.
    public func recordSensors(_ sample: JetsonSensorSample) {
        if let load = sample.gpuLoadRatio { gpuLoad.labels().set(load) }
        for (zone, c) in sample.temperaturesCelsius { temperature.labels(zone).set(c) }
        for (rail, w) in sample.railWatts { power.labels(rail).set(w) }
        let input = sample.inputWatts
        inputPowerWatts.withLock { $0 = input }
        if let input, input > 0 {
            for (stream, f) in fpsByStream { fpsPerWatt.labels(stream).set(f / input) }
        }
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String { registry.exposition() }
}
