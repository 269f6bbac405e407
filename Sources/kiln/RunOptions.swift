import Foundation
import KilnAgent
import KilnCore
import KilnInference
import KilnReferenceKernels
import KilnPostprocess
import KilnTelemetry
import KilnTensorRT

/// The flags `kiln run` and `kiln demo` share, parsed once.
struct RunOptions {
    var sources: [String] = []
    var duration: Double?
    var frames: Int?
    var backend = "auto"
    var precision: Precision?
    var preprocess: String?
    var json = false
    var threads = 0
    var reportInterval: Double? = 5
    var serial = false
    var cpuPreprocess = false
    var metricsAddress: String?
    var postprocess: String?
    var labelsPath: String?
    var detection = YOLODecoder()
    /// What the postprocessing flags said (wins over the artifact's settings).
    var postprocessFlags = PostprocessSettings()
    var results: String?
    var pushURL: String?
    var pushInterval: Double = 15
    var controlTokenFile: String?
    var profileOps = false
    var buildMemoryLimit: Int?
    var buildTimeout: Double = 1800
    var saveFrames: FrameAnnotator.SaveFrames?
    var resultsQueue = ResultSink.defaultQueueCapacity
    var webhookBatch = 100
    var webhookInterval = 0.5

    static let help = """
          --source [NAME=]SPEC   frames from (repeat for several streams; NAME names the stream in
                                 results, metrics and MQTT topics, e.g. cam0=v4l2:/dev/video0):
                                   synthetic[:WxH][@FPS]       generated (default synthetic:1280x720)
                                   raw:PATH:WxH[:FMT], y4m:PATH, PATH.y4m   files (never drop)
                                   pipe:[WxH[:FMT]:][live:]CMD  a program writing raw RGB or Y4M
                                   gst:[WxH[:FMT]:][live:]PIPE  a GStreamer pipeline (caps and fdsink added)
                                   v4l2:/dev/videoN[:WxH[:FMT]] a camera (YUYV, NV12, RGB24)
          --postprocess P        none, topk[:K], yolo, yolov5, yolov8, yolov11 or yolox (default:
                                 the artifact's (kiln publish --postprocess), else none; topk:1
                                 for the demo). These flags win over the artifact's settings.
                                 yolo recognises the head from its shape; a head that does not
                                 fit the layout, the class count or the 0–1 score range stops
                                 the run (exit 3)
          --labels FILE          class names, one per line (default: the model's `names` metadata);
                                 their count must equal the head's class count
          --conf X               detection confidence threshold (default 0.25, Ultralytics' predict)
          --iou X                NMS IoU threshold (default 0.7, Ultralytics' predict)
          --max-det N            detections kept per frame (default 300, Ultralytics' predict)
          --classes 0,2,…        report only these class ids (default: all)
          --agnostic-nms         suppress overlapping boxes across classes
          --results DEST         write each frame's result as a JSON line to stdout, file:PATH,
                                 unix:PATH (connected lazily, reconnected) or
                                 mqtt://[USER@]HOST[:PORT]/TOPIC[?qos=1] (MQTT 3.1.1, topic
                                 TOPIC/STREAM, credentials from the auth file's HOST:PORT entry) or
                                 http[s]://HOST[:PORT]/PATH (webhook: JSON arrays of up to
                                 --webhook-batch results, at most --webhook-interval apart); unix,
                                 mqtt and http publish from a bounded queue: a slow, stalled or
                                 dead receiver drops results (kiln_results_total), never stalls
          --results-queue N      results a unix, mqtt or http sink queues at most (default 1024)
          --webhook-batch N      most results in one webhook POST (default 100)
          --webhook-interval D   longest a result waits for its webhook batch (default 500ms)
          --duration D           stop after D (10s, 2m, 500ms)
          --frames N             stop after N frames (all streams together)
          --backend B            reference, tensorrt or auto (default auto: TensorRT when usable)
          --precision P          fp32, fp16, int8, bf16 or best (default: the profile's)
          --preprocess TEXT      e.g. letterbox,640x640,rgb,imagenet,pad=114,fp16 (default: from
                                 the model's metadata and input shape)
          --threads N            CPU threads for the reference backend (default: all cores)
          --report-interval D    periodic report on stderr every D (default 5s; 0 turns it off)
          --serial               run every stage on one thread (for comparison)
          --cpu-preprocess       preprocess on the CPU even when a GPU is present
          --metrics-addr H:P     serve /metrics (Prometheus), /healthz and /status (JSON) on H:P
                                 (e.g. 127.0.0.1:9464; :9464 is loopback too, 0.0.0.0:9464 every
                                 interface; port 0 picks a free one); GET /snapshot.png[?stream=NAME]
                                 there is the latest frame with its detections drawn (a frame kept
                                 every 0.5 s per stream, encoded on request, at most 4 times a second)
          --save-frames DIR      write annotated frames as PNG to DIR (STREAM-FRAME.png, atomic)
          --every N              with --save-frames: one frame in N of each stream (default 30)
          --save-frames-max N    PNGs DIR keeps at most, oldest removed first (default 1000)
          --control-token-file F POST control endpoints (/rollout/poll) need `Authorization: Bearer
                                 TOKEN` with the token in F (mode 0600); without it they are off
          --push-url URL         push the same metrics to a Prometheus Pushgateway
          --push-interval D      seconds between pushes (default 15s)
          --build-memory-limit SIZE  memory an isolated engine build or a rollout candidate's
                                 first inferences may take (512M, 2G; default: MemAvailable less
                                 the profile's reserve); a model that needs more is refused and
                                 the agent keeps serving
          --build-timeout D      how long one isolated build may run (default 30m)
          --json                 print the summary as one JSON object, the last line of stdout
          --profile-ops          time every op of the reference backend; at the end print, on
                                 stderr, milliseconds per op type and the 20 slowest nodes
        """

    init(_ a: inout Arguments) throws {
        sources = try a.options("--source")
        duration = try a.option("--duration", "a duration like 10s") { DurationText.seconds($0) }
        frames = try a.option("--frames", "a positive frame count") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        backend = try a.option("--backend") ?? "auto"
        precision = try a.option("--precision", "one of fp32, fp16, int8, bf16, best") { Precision(rawValue: $0) }
        preprocess = try a.option("--preprocess")
        threads = try a.option("--threads", "a thread count ≥ 0") { Int($0).flatMap { $0 >= 0 ? $0 : nil } } ?? 0
        if let interval = try a.option("--report-interval", "a duration like 5s", { DurationText.seconds($0) }) {
            reportInterval = interval > 0 ? interval : nil
        }
        serial = a.flag("--serial")
        cpuPreprocess = a.flag("--cpu-preprocess")
        metricsAddress = try a.option("--metrics-addr")
        postprocessFlags = try PostprocessOptions.parse(&a)
        postprocess = postprocessFlags.method
        postprocessFlags.apply(to: &detection)
        labelsPath = try a.option("--labels")
        results = try a.option("--results")
        resultsQueue = try a.option("--results-queue", "a positive result count") { Int($0).flatMap { (1...1_000_000).contains($0) ? $0 : nil } }
            ?? ResultSink.defaultQueueCapacity
        webhookBatch = try a.option("--webhook-batch", "a positive result count") { Int($0).flatMap { (1...10_000).contains($0) ? $0 : nil } } ?? 100
        webhookInterval = try a.option("--webhook-interval", "a duration like 500ms") { DurationText.seconds($0).flatMap { $0 >= 0 && $0 <= 60 ? $0 : nil } } ?? 0.5
        pushURL = try a.option("--push-url")
        let every = try a.option("--every", "a positive frame count") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        let maxFiles = try a.option("--save-frames-max", "a positive file count") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        if let directory = try a.option("--save-frames") {
            saveFrames = FrameAnnotator.SaveFrames(directory: directory, every: every ?? 30, maxFiles: maxFiles ?? 1000)
        } else if every != nil || maxFiles != nil {
            throw UsageError("--every and --save-frames-max go with --save-frames DIR")
        }
        controlTokenFile = try a.option("--control-token-file")
        pushInterval = try a.option("--push-interval", "a duration like 15s") { DurationText.seconds($0).flatMap { $0 > 0 ? $0 : nil } } ?? 15
        buildMemoryLimit = try a.option("--build-memory-limit", "a byte count like 512M or 2G") {
            ByteCountText.bytes($0).flatMap { $0 >= 16 << 20 ? $0 : nil }
        }
        buildTimeout = try a.option("--build-timeout", "a duration like 30m") { DurationText.seconds($0).flatMap { $0 > 0 ? $0 : nil } } ?? 1800
        json = a.flag("--json")
        profileOps = a.flag("--profile-ops")
        if profileOps { ReferenceRunner.setProfiling(true) }
    }

    /// Prints the per-op profile on stderr when `--profile-ops` was given (or says why there is none).
    func printProfile() {
        guard profileOps else { return }
        let report = ReferenceRunner.profileReport(slowestNodes: 20)
        let text = report.isEmpty
            ? "profile: no reference-backend op was timed (--profile-ops times the reference backend; for TensorRT use trtexec --dumpProfile)"
            : "profile of the reference backend (per op type: sum of each node's fastest run):\n" + report
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// The bounds of the isolated child on `device`: `--build-memory-limit`, else MemAvailable
    /// less the profile's reserve (the tensor budget), and `--build-timeout`.
    func isolation(device: DeviceContext) -> ChildLimits {
        let available = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)).flatMap { MemInfo(parsing: $0).availableBytes }
        let budget = TensorBudget(profile: device.detection.profile, memAvailableBytes: available)
        return ChildLimits(memoryBytes: buildMemoryLimit ?? budget.maxTensorBytes, timeoutSeconds: buildTimeout)
    }

    /// The agent's configuration for these flags, serving `model` on `device`.
    /// Reads `--control-token-file` (a usage error names the file and the fix).
    func agentConfiguration(model: AgentConfiguration.Model, device: DeviceContext, registry: RegistryAccess? = nil,
                            follow: AgentConfiguration.Follow? = nil, configurationFile: String? = nil,
                            defaultPostprocess: String = "none", defaultLabels: [String] = []) throws -> AgentConfiguration {
        var configuration = AgentConfiguration(
            model: model, device: device.detection, cache: device.cache, engineBuildChild: .kiln, sources: sources,
            loop: FrameLoop.Configuration(maxFrames: frames, duration: duration, reportInterval: reportInterval, pipelined: !serial,
                                          makePreprocessor: cpuPreprocess ? PreprocessorChoice.cpu : PreprocessorChoice.automatic()),
            backend: backend, precision: precision, preprocess: preprocess, threads: threads,
            metricsAddress: metricsAddress, pushURL: pushURL, pushInterval: pushInterval,
            controlToken: try controlTokenFile.map { try ControlToken.read(path: $0) }, registry: registry, follow: follow,
            configurationFile: configurationFile)
        configuration.isolation = isolation(device: device)
        configuration.saveFrames = saveFrames
        configuration.postprocess.choice = postprocess ?? defaultPostprocess
        configuration.postprocess.labelsPath = labelsPath
        configuration.postprocess.defaultLabels = defaultLabels
        configuration.postprocess.results = results
        configuration.postprocess.detection = detection
        configuration.postprocess.flags = postprocessFlags
        configuration.postprocess.queueCapacity = resultsQueue
        configuration.postprocess.webhookBatch = webhookBatch
        configuration.postprocess.webhookInterval = webhookInterval
        return configuration
    }
}
