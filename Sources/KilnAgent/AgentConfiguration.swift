import KilnCore
import KilnInference
import KilnPostprocess
import KilnRegistry
import KilnRollout
import KilnTensorRT

/// Everything one agent run needs, as values: what to serve, where frames come from, how
/// engines are built, what is reported, and whether a reference is followed.
///
/// `kiln run` and `kiln demo` fill one from their flags and the configuration file; tests fill
/// one directly. `Agent` turns it into running services.
public struct AgentConfiguration: Sendable {
    /// The model to serve first.
    public enum Model: Sendable {
        /// A `.onnx` path, `oci:PATH:TAG`, `oci:PATH@sha256:…`, `HOST[:PORT]/REPO:TAG` or `…@sha256:…`.
        case reference(String)
        /// Model bytes already in memory (the demo model).
        case source(ModelSource)
    }

    /// How results are decoded.
    public struct Postprocess: Sendable {
        /// `none`, `topk[:K]`, `yolo`, `yolov5`, `yolov8` or `yolov11`.
        public var choice = "none"
        /// A file of class names, one per line; wins over `defaultLabels`.
        public var labelsPath: String?
        /// Class names used when no file is given.
        public var defaultLabels: [String] = []
        /// Where result lines go (`-`, `file:PATH`, `unix:PATH`); nil for nowhere.
        public var results: String?
        /// Detection thresholds and filters (`--conf`, `--iou`, `--max-det`, `--classes`, `--agnostic-nms`).
        public var detection = YOLODecoder()
        /// What the flags said (`--postprocess` and the thresholds): wins over the artifact's settings,
        /// which win over `choice` and `detection`'s defaults.
        public var flags = PostprocessSettings()
        /// Results a publisher (unix, MQTT, webhook) queues at most (`--results-queue`).
        public var queueCapacity = ResultSink.defaultQueueCapacity
        /// Most results in one webhook POST (`--webhook-batch`).
        public var webhookBatch = 100
        /// Seconds a result may wait for its webhook batch to fill (`--webhook-interval`).
        public var webhookInterval = 0.5

        /// No postprocessing, results nowhere; set the fields that differ.
        public init() {}
    }

    /// Following a reference: polls, gated rollouts, probation and rollback.
    public struct Follow: Sendable {
        /// Seconds between polls, and their spread.
        public var schedule: PollSchedule
        /// Seconds a new engine is watched after its swap.
        public var probationSeconds: Double
        /// Where `rollout.json` lives.
        public var stateDirectory: String
        /// This device's id for cohort hashing.
        public var deviceID: String
        /// Abnormal exits while serving one digest after which it is refused and the previous
        /// model serves (the crash-loop breaker).
        public var crashLoopThreshold: Int

        /// Creates follow settings.
        public init(schedule: PollSchedule = PollSchedule(interval: 30), probationSeconds: Double = 10,
                    stateDirectory: String = KilnDirectories().state, deviceID: String = RolloutCohort.deviceID(),
                    crashLoopThreshold: Int = 2) {
            self.schedule = schedule
            self.probationSeconds = probationSeconds
            self.stateDirectory = stateDirectory
            self.deviceID = deviceID
            self.crashLoopThreshold = crashLoopThreshold
        }
    }

    /// The model served first.
    public var model: Model
    /// `--source` specs, one stream each; empty for one synthetic 1280×720 stream.
    public var sources: [String]
    /// Loop limits, reporting and the preprocessor choice.
    public var loop: FrameLoop.Configuration
    /// `reference`, `tensorrt` or `auto`.
    public var backend: String
    /// The precision to build in; nil for the profile's.
    public var precision: Precision?
    /// Preprocessing that wins over the model's own (`--preprocess`).
    public var preprocess: String?
    /// CPU threads of the reference backend; 0 for all cores.
    public var threads: Int
    /// Output decoding.
    public var postprocess: Postprocess
    /// Where `/metrics`, `/healthz` and `/status` are served; nil for nowhere.
    public var metricsAddress: String?
    /// A Pushgateway to push metrics to; nil for none.
    public var pushURL: String?
    /// Seconds between pushes.
    public var pushInterval: Double
    /// The bearer token POST control endpoints require (`--control-token-file`); nil turns them off.
    public var controlToken: String?
    /// How TensorRT builds start their isolated child (the embedding program's own command).
    public var engineBuildChild: EngineBuildChildCommand
    /// The bounds of the isolated child every engine build and a candidate's first inferences
    /// run in (`kiln run` always sets them); nil builds the reference backend in this process.
    public var isolation: ChildLimits? = nil
    /// The device and its profile.
    public var device: DeviceDetection
    /// The engine cache.
    public var cache: EngineCache
    /// Registry credentials and the model store, for references that need them; nil for the
    /// defaults (no credentials, the default store), made only when a reference needs them.
    public var registry: RegistryAccess?
    /// Set to follow the model reference (`--follow`).
    public var follow: Follow?
    /// The configuration file a reload re-reads (its `model` key); nil when there is none.
    public var configurationFile: String?
    /// Annotated frames saved as PNG (`--save-frames DIR --every N`); nil for none.
    public var saveFrames: FrameAnnotator.SaveFrames? = nil
    /// Whether the agent handles SIGINT/SIGTERM (drain and stop) and SIGHUP (reload) itself;
    /// an embedding program that owns signals turns it off and calls `shutdownGracefully()`
    /// and `reload()` instead.
    public var handlesSignals: Bool
    /// The backends `backend` selects from; nil for `BackendCatalog.standard` (tests and embedders
    /// pass their own).
    public var backends: BackendCatalog? = nil

    /// Creates a configuration with the command line's defaults.
    public init(model: Model, device: DeviceDetection, cache: EngineCache, engineBuildChild: EngineBuildChildCommand, sources: [String] = [],
                loop: FrameLoop.Configuration = .init(), backend: String = "auto", precision: Precision? = nil,
                preprocess: String? = nil, threads: Int = 0, postprocess: Postprocess = .init(), metricsAddress: String? = nil,
                pushURL: String? = nil, pushInterval: Double = 15, controlToken: String? = nil, registry: RegistryAccess? = nil,
                follow: Follow? = nil, configurationFile: String? = nil, handlesSignals: Bool = true) {
        self.model = model
        self.device = device
        self.cache = cache
        self.sources = sources
        self.loop = loop
        self.backend = backend
        self.precision = precision
        self.preprocess = preprocess
        self.threads = threads
        self.postprocess = postprocess
        self.metricsAddress = metricsAddress
        self.pushURL = pushURL
        self.pushInterval = pushInterval
        self.controlToken = controlToken
        self.engineBuildChild = engineBuildChild
        self.registry = registry
        self.follow = follow
        self.configurationFile = configurationFile
        self.handlesSignals = handlesSignals
    }
}
