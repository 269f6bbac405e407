/// The stages one frame passes through, as named in statistics, JSON and metrics
/// (`kiln_latency_seconds{stage}`).
public enum PipelineStage: String, Sendable, CaseIterable, Codable {
    /// Reading or decoding the frame from its source (read time only: waiting for the producer's
    /// next frame is not part of it).
    case capture
    /// Waiting in the loop's queues between capture and the engine call (behind a busy model).
    case queue
    /// Resizing, converting and normalising the frame into the input tensor.
    case preprocess
    /// The engine call (the batch's duration, attributed to each frame in it).
    case infer
    /// Decoding outputs (top-k, detections) and handing the result to the sinks.
    case postprocess
    /// From the frame's capture (the start of its read) to its result handed to the sinks:
    /// capture + queue + preprocess + infer + postprocess.
    case endToEnd = "end_to_end"

    /// The stage's position in `allCases` (the order of the latency series).
    var index: Int {
        switch self {
        case .capture: 0
        case .queue: 1
        case .preprocess: 2
        case .infer: 3
        case .postprocess: 4
        case .endToEnd: 5
        }
    }
}
