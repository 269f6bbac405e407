/// The stages one frame passes through, as named in statistics, JSON and metrics
/// (`kiln_latency_seconds{stage}`).
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

    /// The stage's position in `allCases` (the order of the latency series).
    var index: Int {
        switch self {
        case .capture: 0
        case .preprocess: 1
        case .infer: 2
        case .postprocess: 3
        case .endToEnd: 4
        }
    }
}
