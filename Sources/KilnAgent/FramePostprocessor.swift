import KilnCore
import KilnPostprocess
import KilnVideo

/// Where one frame came from and how it was fitted into the model input.
public struct FrameContext: Sendable {
    /// The stream name.
    public var stream: String
    /// The frame's index in its stream.
    public var index: Int
    /// Frame width in pixels.
    public var width: Int
    /// Frame height in pixels.
    public var height: Int
    /// How the frame was letterboxed or stretched into the input.
    public var geometry: LetterboxGeometry
    /// The model's display name and digest.
    public var model: String
    /// The model's digest.
    public var digest: String
    /// The engine's output names in the model's order.
    public var outputNames: [String]
    /// When the frame was captured, in monotonic seconds.
    public var captureTime: Double
    /// The model input's width and height the frame was preprocessed to.
    public var inputSize: (width: Int, height: Int)? = nil
    /// Class names the model carries in its metadata (empty when none).
    public var modelLabels: [String] = []
    /// The engine cache key of the engine that ran the frame.
    public var engineKey: String? = nil
    /// Postprocessing settings shipped with the engine's model (below `kiln run`'s flags).
    public var modelSettings: PostprocessSettings? = nil
    /// The frame's RGB24 pixels (`width`×`height`), when the loop kept them for a `FrameAnnotator`.
    public var pixels: [UInt8]? = nil
}

/// Decodes one frame's engine outputs into a result (a JSON line), or nothing.
///
/// Called on the loop's postprocess thread, one frame at a time, in frame order per stream.
public protocol FramePostprocessor: Sendable {
    /// Turns `outputs` of the frame described by `context` into one JSON line, or nil.
    func process(outputs: [String: Tensor], context: FrameContext) throws -> String?
    /// Called once after the last frame: flush and close sinks.
    func finish()
}

extension FramePostprocessor {
    /// Nothing to flush by default.
    public func finish() {}
}

/// Emits nothing: statistics only (`--postprocess none`); the frames still reach the annotator
/// (the snapshot shows them without boxes).
public struct NoPostprocessor: FramePostprocessor {
    /// Receives every frame with no results.
    public var annotator: FrameAnnotator?

    /// Creates the no-op postprocessor.
    public init(annotator: FrameAnnotator? = nil) { self.annotator = annotator }

    public func process(outputs: [String: Tensor], context: FrameContext) throws -> String? {
        annotator?.record(context, results: [])
        return nil
    }

    public func finish() { annotator?.finish() }
}
