import Foundation
import KilnCore

/// What postprocessing needs to know about the frames behind one engine call.
public struct PostprocessContext: Sendable {
    /// The stream of the frame.
    public var stream: String
    /// The frame's index in its stream.
    public var index: Int
    /// How the frame was mapped into the model input.
    public var geometry: LetterboxGeometry
    /// Wall-clock capture time, seconds since 1970.
    public var timestamp: Double
    /// The model input's width and height in pixels, when known.
    public var inputSize: (width: Int, height: Int)?
    /// Class names the model itself carries (Ultralytics `names` metadata), used when no
    /// `--labels` are given.
    public var modelLabels: [String]
    /// Thresholds and filters shipped with the model (below the flags).
    public var modelSettings: PostprocessSettings?

    /// Creates a context.
    public init(stream: String, index: Int, geometry: LetterboxGeometry, timestamp: Double = Date().timeIntervalSince1970,
                inputSize: (width: Int, height: Int)? = nil, modelLabels: [String] = [], modelSettings: PostprocessSettings? = nil) {
        self.modelSettings = modelSettings
        self.inputSize = inputSize
        self.modelLabels = modelLabels
        self.stream = stream
        self.index = index
        self.geometry = geometry
        self.timestamp = timestamp
    }
}

/// Turns the outputs of one (possibly batched) engine call into one result per frame.
///
/// `outputs` are the engine's output tensors in model order; `frames` has one context per
/// batch row, in batch order.
public protocol Postprocessor: Sendable {
    /// Decodes the outputs for the frames of the batch.
    func process(outputs: [Tensor], frames: [PostprocessContext]) throws -> [FrameResult]
}

/// Classification: top-k of the first output.
public struct ClassificationPostprocessor: Postprocessor {
    /// The decoder.
    public var topK: TopK
    /// Class names by index (may be empty).
    public var labels: [String]

    /// Creates a classification postprocessor.
    public init(topK: TopK = TopK(), labels: [String] = []) {
        self.topK = topK
        self.labels = labels
    }

    public func process(outputs: [Tensor], frames: [PostprocessContext]) throws -> [FrameResult] {
        guard let output = outputs.first else { throw PostprocessError("the model has no outputs to classify") }
        let rows = try topK.decode(output, labels: labels.isEmpty ? frames.first?.modelLabels ?? [] : labels)
        guard rows.count == frames.count else {
            throw PostprocessError("classification output has \(rows.count) rows for a batch of \(frames.count) frames")
        }
        return zip(rows, frames).map { FrameResult(stream: $1.stream, frame: $1.index, timestamp: $1.timestamp, classifications: $0) }
    }
}

/// Detection: YOLO decoding of the first output, NMS, letterbox undone per frame.
///
/// The class count is checked against the labels: `--labels`, else the model's own `names`.
public struct DetectionPostprocessor: Postprocessor {
    /// The decoder.
    public var decoder: YOLODecoder
    /// Class names by index (may be empty).
    public var labels: [String]
    /// The settings the user gave (already in `decoder`): re-applied over a model's own.
    public var flags: PostprocessSettings

    /// Creates a detection postprocessor.
    public init(decoder: YOLODecoder = YOLODecoder(), labels: [String] = [], flags: PostprocessSettings = PostprocessSettings()) {
        self.decoder = decoder
        self.labels = labels
        self.flags = flags
    }

    public func process(outputs: [Tensor], frames: [PostprocessContext]) throws -> [FrameResult] {
        guard let output = outputs.first else { throw PostprocessError("the model has no outputs to decode boxes from") }
        var decoder = self.decoder
        if let shipped = frames.first?.modelSettings {
            shipped.apply(to: &decoder)
            flags.apply(to: &decoder)
        }
        let labels = self.labels.isEmpty ? frames.first?.modelLabels ?? [] : self.labels
        if decoder.classCount == nil, !labels.isEmpty { decoder.classCount = labels.count }
        if decoder.inputSize == nil { decoder.inputSize = frames.first?.inputSize }
        let rows = try decoder.decode(output, geometries: frames.map(\.geometry), labels: labels)
        return zip(rows, frames).map { FrameResult(stream: $1.stream, frame: $1.index, timestamp: $1.timestamp, detections: $0) }
    }
}

/// Reads class labels: one per line, blank lines kept as empty names so indices stay aligned.
public func loadLabels(path: String) throws -> [String] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw PostprocessError("--labels \(path): cannot read the file; give a text file with one class name per line", exitCode: .usage)
    }
    var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    while lines.last == "" { lines.removeLast() }
    return lines
}
