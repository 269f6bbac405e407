/// How a model's outputs are decoded, as far as it was said: by `kiln run`'s flags, or shipped
/// with the model in its artifact (`kiln publish --postprocess … --labels …`).
///
/// Every field is optional: an absent one falls back to the next source. Precedence, highest
/// first: `kiln run`'s flags, the served artifact's settings, the model's metadata (labels),
/// the documented defaults (`YOLODecoder()`).
public struct PostprocessSettings: Sendable, Codable, Equatable {
    /// `topk[:K]`, `yolo`, `yolov5`, `yolov8`, `yolov11`, `yolox` or `none`.
    public var method: String?
    /// Confidence threshold (`--conf`).
    public var confidence: Float?
    /// NMS IoU threshold (`--iou`).
    public var iou: Float?
    /// Detections kept per frame (`--max-det`).
    public var maxDetections: Int?
    /// Class ids reported (`--classes`); nil for all.
    public var classes: [Int]?
    /// Suppress across classes (`--agnostic-nms`).
    public var agnosticNMS: Bool?
    /// Class names by index (`--labels`).
    public var labels: [String]?

    enum CodingKeys: String, CodingKey {
        case method, confidence = "conf", iou, maxDetections = "max_det", classes, agnosticNMS = "agnostic_nms", labels
    }

    /// Creates settings; nil fields are unsaid.
    public init(method: String? = nil, confidence: Float? = nil, iou: Float? = nil, maxDetections: Int? = nil,
                classes: [Int]? = nil, agnosticNMS: Bool? = nil, labels: [String]? = nil) {
        self.method = method
        self.confidence = confidence
        self.iou = iou
        self.maxDetections = maxDetections
        self.classes = classes
        self.agnosticNMS = agnosticNMS
        self.labels = labels
    }

    /// True when nothing is said.
    public var isEmpty: Bool { self == PostprocessSettings() }

    /// These settings with every field `other` says replaced by `other`'s.
    public func overridden(by other: PostprocessSettings) -> PostprocessSettings {
        PostprocessSettings(method: other.method ?? method, confidence: other.confidence ?? confidence, iou: other.iou ?? iou,
                            maxDetections: other.maxDetections ?? maxDetections, classes: other.classes ?? classes,
                            agnosticNMS: other.agnosticNMS ?? agnosticNMS, labels: other.labels ?? labels)
    }

    /// Sets the thresholds and filters these settings say on `decoder`.
    public func apply(to decoder: inout YOLODecoder) {
        if let confidence { decoder.confidenceThreshold = confidence }
        if let iou { decoder.iouThreshold = iou }
        if let maxDetections { decoder.maxDetections = maxDetections }
        if let classes { decoder.classes = Set(classes) }
        if let agnosticNMS { decoder.agnosticNMS = agnosticNMS }
    }

    /// Checks the values a user or an artifact gave; the error names `source` and the field.
    public func validate(source: String) throws {
        func bad(_ what: String) -> PostprocessError {
            PostprocessError("\(source): postprocess \(what)", exitCode: .usage)
        }
        if let confidence, !(0...1).contains(confidence) { throw bad("conf \(confidence) is not between 0 and 1") }
        if let iou, !(0...1).contains(iou) { throw bad("iou \(iou) is not between 0 and 1") }
        if let maxDetections, maxDetections <= 0 { throw bad("max_det \(maxDetections) is not positive") }
        if let classes, classes.contains(where: { $0 < 0 }) { throw bad("classes \(classes) has a negative id") }
        if let labels, labels.count > 100_000 { throw bad("labels has \(labels.count) names (at most 100000)") }
    }
}
