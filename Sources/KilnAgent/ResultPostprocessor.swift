import Foundation
import KilnCore
import KilnPostprocess

/// Decodes outputs with a `KilnPostprocess` decoder (top-k, YOLO) and writes each frame's result
/// as one JSON line to the result sink (stdout, a file, a Unix socket).
public struct ResultPostprocessor: FramePostprocessor {
    /// The decoder.
    public var decoder: any Postprocessor
    /// Where results go; nil keeps them for statistics only.
    public var sink: ResultSink?
    /// Counts detections per class and draws them for the snapshot and saved frames.
    public var annotator: FrameAnnotator?

    /// Creates a postprocessor writing to `sink`.
    public init(decoder: any Postprocessor, sink: ResultSink?, annotator: FrameAnnotator? = nil) {
        self.decoder = decoder
        self.sink = sink
        self.annotator = annotator
    }

    public func process(outputs: [String: Tensor], context: KilnAgent.FrameContext) throws -> String? {
        let ordered = context.outputNames.compactMap { outputs[$0] }
        // Wall-clock time of capture: the monotonic capture time shifted to the epoch.
        let captured = Date().timeIntervalSince1970 - (MonotonicClock.now - context.captureTime)
        let frame = PostprocessContext(stream: context.stream, index: context.index, geometry: context.geometry, timestamp: captured,
                                       inputSize: context.inputSize, modelLabels: context.modelLabels,
                                       modelSettings: context.modelSettings)
        var results = try decoder.process(outputs: ordered.isEmpty ? Array(outputs.values) : ordered, frames: [frame])
        for i in results.indices {
            results[i].model = context.model
            results[i].digest = context.digest
            results[i].engineKey = context.engineKey
        }
        annotator?.record(context, results: results)
        try sink?.write(results)
        return nil
    }

    /// Publishes what the sink still queues (MQTT) and closes it; writes the frames still queued for saving.
    public func finish() {
        sink?.close()
        annotator?.finish()
    }
}

/// The `--postprocess` choices.
public enum PostprocessChoice {
    /// Parses `none`, `topk[:K]`, `yolo` (layout recognised from the output), `yolov5`, `yolov8`
    /// (also `yolov11`, same layout) or `yolox`, with labels from `labels`; `detection` carries the
    /// thresholds and class filter (its layout is replaced); `sink` receives the results.
    /// `flags` are the settings `kiln run` was given; they win over the model's own per frame.
    /// `annotator` (snapshot, saved frames, per-class counts) sees every frame.
    public static func make(_ text: String, labels: [String], sink: ResultSink?,
                            detection: YOLODecoder = YOLODecoder(), flags: PostprocessSettings = PostprocessSettings(),
                            annotator: FrameAnnotator? = nil) throws -> any FramePostprocessor {
        switch text {
        case "none":
            return NoPostprocessor(annotator: annotator)
        case "yolo", "yolov5", "yolov8", "yolov11", "yolox":
            var decoder = detection
            decoder.layout = ["yolov5": .v5, "yolox": .yolox, "yolo": .auto][text] ?? .v8
            return ResultPostprocessor(decoder: DetectionPostprocessor(decoder: decoder, labels: labels, flags: flags), sink: sink,
                                       annotator: annotator)
        default:
            if text == "topk" || text.hasPrefix("topk:") {
                let k = text == "topk" ? 5 : Int(text.dropFirst(5)) ?? 0
                guard k > 0 else { throw UsageError("--postprocess \(text): K must be a positive number, e.g. topk:5") }
                return ResultPostprocessor(decoder: ClassificationPostprocessor(topK: TopK(k: k), labels: labels), sink: sink,
                                           annotator: annotator)
            }
            throw UsageError("--postprocess \(text): expected none, topk[:K], yolo, yolov5, yolov8, yolov11 or yolox")
        }
    }
}
