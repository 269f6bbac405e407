/// The stages one frame passes through, as named in statistics, JSON and metrics.
public enum PipelineStage: String, Sendable, CaseIterable, Codable {
    /// Reading or decoding the frame from its source.
    case capture
    /// Resizing, converting and normalising the frame into the input tensor.
    case preprocess
    /// The engine call (the batch's duration, attributed to each frame in it).
    case infer
    /// Decoding outputs (top-k, detections) and writing results to sinks.
    case postprocess
    /// From the start of capture to the end of postprocessing, queues included.
    case endToEnd = "end_to_end"
}
