import Foundation
import KilnCore
import KilnTelemetry
import Synchronization

/// What the frame loop has done so far: frames, drops, FPS and per-stage latency, per stream.
///
/// Recorded from the loop's postprocess thread, read by the periodic report, the status
/// endpoint and the final summary. One `Mutex` guards it; recording is a few appends.
public final class LoopStatistics: Sendable {
    private struct StreamState {
        var frames = 0
        var dropped: [String: Int] = [:]
        var rate: FrameRateWindow
        var firstCompletion: Double?
        var lastCompletion: Double?
    }

    private struct State {
        var started: Double
        var firstCompletion: Double?
        var lastCompletion: Double?
        var frames = 0
        var stages: [PipelineStage: LatencyHistogram] = [:]
        var streams: [String: StreamState] = [:]
    }

    private let state: Mutex<State>
    /// The sliding window FPS is measured over, in seconds.
    public let fpsWindow: Double

    /// Creates empty statistics; `fpsWindow` is the sliding window for `fps(stream:)`.
    public init(fpsWindow: Double = 2) {
        self.fpsWindow = fpsWindow
        state = Mutex(State(started: MonotonicClock.now))
    }

    /// Records one finished frame of `stream` with its per-stage seconds.
    public func recordFrame(stream: String, stages: [PipelineStage: Double], at now: Double = MonotonicClock.now) {
        let window = fpsWindow
        state.withLock { s in
            s.frames += 1
            if s.firstCompletion == nil { s.firstCompletion = now }
            s.lastCompletion = now
            for (stage, seconds) in stages { s.stages[stage, default: LatencyHistogram()].record(seconds) }
            var st = s.streams[stream] ?? StreamState(rate: FrameRateWindow(window: window, started: s.started))
            st.frames += 1
            if st.firstCompletion == nil { st.firstCompletion = now }
            st.lastCompletion = now
            st.rate.record(at: now)
            s.streams[stream] = st
        }
    }

    /// Records frames of `stream` that were dropped, by reason (`stale`: a live source's frame replaced by a newer one before inference took it; `driver`, `preprocess_error`, `inference_error`).
    public func recordDrop(stream: String, reason: String, count: Int = 1) {
        guard count > 0 else { return }
        state.withLock { s in
            s.streams[stream, default: StreamState(rate: FrameRateWindow(window: fpsWindow, started: s.started))]
                .dropped[reason, default: 0] += count
        }
    }

    /// Frames per second of `stream` over the sliding window.
    public func fps(stream: String, now: Double = MonotonicClock.now) -> Double {
        state.withLock { s in
            s.streams[stream]?.rate.rate(at: now) ?? 0
        }
    }

    /// Total frames finished, all streams.
    public var frames: Int { state.withLock { $0.frames } }

    /// A snapshot for reports and JSON.
    public func summary(now: Double = MonotonicClock.now) -> LoopSummary {
        state.withLock { s in
            let elapsed = now - s.started
            var latency: [String: LoopSummary.Percentiles] = [:]
            for stage in PipelineStage.allCases {
                let p = (s.stages[stage] ?? LatencyHistogram()).percentilesMilliseconds([50, 90, 99])
                latency[stage.rawValue] = LoopSummary.Percentiles(p50: p[0], p90: p[1], p99: p[2])
            }
            // Throughput over the span in which frames completed (excludes engine load and warm-up),
            // overall and per stream alike, so the streams' figures add up to the overall one.
            func rate(_ frames: Int, _ first: Double?, _ last: Double?) -> Double {
                guard let first, let last, last > first, frames > 1 else { return 0 }
                return Double(frames - 1) / (last - first)
            }
            var streams: [String: LoopSummary.Stream] = [:]
            var dropped: [String: Int] = [:]
            for (name, st) in s.streams {
                streams[name] = LoopSummary.Stream(
                    frames: st.frames, dropped: st.dropped.values.reduce(0, +), droppedByReason: st.dropped,
                    fps: rate(st.frames, st.firstCompletion, st.lastCompletion), recentFPS: st.rate.rate(at: now))
                dropped.merge(st.dropped, uniquingKeysWith: +)
            }
            return LoopSummary(frames: s.frames, dropped: dropped.values.reduce(0, +), droppedByReason: dropped,
                               fps: rate(s.frames, s.firstCompletion, s.lastCompletion),
                               seconds: elapsed, latencyMilliseconds: latency, streams: streams)
        }
    }
}

/// A snapshot of the loop's statistics, as printed and as JSON.
public struct LoopSummary: Sendable, Codable {
    /// p50/p90/p99 of one stage in milliseconds.
    public struct Percentiles: Sendable, Codable {
        public var p50: Double
        public var p90: Double
        public var p99: Double
    }

    /// One stream's counts.
    public struct Stream: Sendable, Codable {
        public var frames: Int
        public var dropped: Int
        public var droppedByReason: [String: Int]
        /// Frames per second between the stream's first and last finished frame (as the overall `fps`).
        public var fps: Double
        /// Frames per second over the statistics' sliding window, now (the `kiln_fps` gauge).
        public var recentFPS: Double

        enum CodingKeys: String, CodingKey {
            case frames, dropped, fps
            case droppedByReason = "dropped_by_reason"
            case recentFPS = "fps_recent"
        }
    }

    /// Frames finished, all streams.
    public var frames: Int
    /// Frames dropped, all streams.
    public var dropped: Int
    /// Frames dropped, all streams, by reason (`stale`: a live source's frame superseded by a
    /// newer one while the model was busy).
    public var droppedByReason: [String: Int]
    /// Frames per second between the first and the last finished frame.
    public var fps: Double
    /// Seconds since the loop started (engine load excluded).
    public var seconds: Double
    /// Per-stage latency percentiles, keyed by stage name.
    public var latencyMilliseconds: [String: Percentiles]
    /// Per-stream counts, keyed by stream name.
    public var streams: [String: Stream]

    enum CodingKeys: String, CodingKey {
        case frames, dropped, fps, seconds, streams
        case droppedByReason = "dropped_by_reason"
        case latencyMilliseconds = "latency_ms"
    }
}
