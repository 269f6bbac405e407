/// An axis-aligned box in pixels: left, top, right, bottom.
public struct Box: Sendable, Equatable, Codable {
    /// Left edge.
    public var x1: Float
    /// Top edge.
    public var y1: Float
    /// Right edge.
    public var x2: Float
    /// Bottom edge.
    public var y2: Float

    /// Creates a box from its corners.
    public init(x1: Float, y1: Float, x2: Float, y2: Float) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }

    /// Creates a box from a centre and a size (YOLO's cx, cy, w, h).
    public init(cx: Float, cy: Float, w: Float, h: Float) {
        self.init(x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2)
    }

    /// Area (0 for degenerate boxes).
    public var area: Float { max(0, x2 - x1) * max(0, y2 - y1) }

    /// Intersection over union with `other`.
    public func iou(_ other: Box) -> Float {
        let w = min(x2, other.x2) - max(x1, other.x1), h = min(y2, other.y2) - max(y1, other.y1)
        guard w > 0, h > 0 else { return 0 }
        let inter = w * h
        return inter / (area + other.area - inter)
    }

    /// Encodes as `[x1, y1, x2, y2]`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(x1); try c.encode(y1); try c.encode(x2); try c.encode(y2)
    }

    /// Decodes `[x1, y1, x2, y2]`.
    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        self.init(x1: try c.decode(Float.self), y1: try c.decode(Float.self), x2: try c.decode(Float.self), y2: try c.decode(Float.self))
    }
}

/// One detected object.
public struct Detection: Sendable, Equatable, Codable {
    /// The class index.
    public var classId: Int
    /// The class name, when labels were given.
    public var label: String?
    /// Confidence in [0, 1] (objectness × class probability for YOLOv5).
    public var score: Float
    /// The box, in source-frame pixels once the letterbox is undone.
    public var box: Box

    /// Creates a detection.
    public init(classId: Int, label: String? = nil, score: Float, box: Box) {
        self.classId = classId
        self.label = label
        self.score = score
        self.box = box
    }

    enum CodingKeys: String, CodingKey { case classId = "class", label, score, box }
}

/// One class of a classification result.
public struct Classification: Sendable, Equatable, Codable {
    /// The class index.
    public var classId: Int
    /// The class name, when labels were given.
    public var label: String?
    /// Probability (after softmax when requested).
    public var score: Float

    /// Creates a classification.
    public init(classId: Int, label: String? = nil, score: Float) {
        self.classId = classId
        self.label = label
        self.score = score
    }

    enum CodingKeys: String, CodingKey { case classId = "class", label, score }
}

/// The result of one frame: what the sinks write as one JSON line.
public struct FrameResult: Sendable, Equatable, Codable {
    /// The stream the frame came from.
    public var stream: String
    /// The frame's index in its stream.
    public var frame: Int
    /// Wall-clock time of capture, seconds since 1970 (for correlating with other systems).
    public var timestamp: Double
    /// End-to-end latency in milliseconds, when known.
    public var latencyMs: Double?
    /// Top-k classes (classification models).
    public var classifications: [Classification]?
    /// Objects (detection models).
    public var detections: [Detection]?
    /// The model's name (path or reference) that produced the result.
    public var model: String?
    /// The model's digest (`sha256:…`).
    public var digest: String?
    /// The engine cache key of the engine that ran it.
    public var engineKey: String?

    enum CodingKeys: String, CodingKey {
        case stream, frame, timestamp, latencyMs = "latency_ms", classifications, detections, model, digest
        case engineKey = "engine_key"
    }
}
