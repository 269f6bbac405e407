import Foundation
import KilnCore
import KilnInference
import KilnTelemetry
import KilnVideo
import Synchronization

/// The frame loop: source → preprocess → infer → postprocess → sinks and statistics.
///
/// Dedicated threads form a pipeline, so frame N+2 is captured while N+1 is preprocessed, N is
/// inferred and N−1 postprocessed:
/// 1. one **capture** thread per stream: `source.next()` into a small queue (a file source waits
///    when it is full); then one **preprocess** thread per stream: preprocessing into the input
///    tensor of the engine currently in the slot, in the memory its runner reads (`inputMemory`:
///    a GPU preprocessor's device tensor goes to a device-capable runner without a host round
///    trip, a host-only runner gets it downloaded once), handed to the `StreamMux`. A live
///    source's queues hold one frame each and a newer frame replaces the one waiting (dropped as
///    `stale`), so while the model is busy the next call gets the newest frame, not a backlog;
/// 2. one **inference** thread: takes up to one frame per stream (several when the engine's batch
///    axis is dynamic, stacked into one call), reads the engine from the `EngineSlot` once per
///    call (a rollout's swap lands between two calls), runs it; frames preprocessed for an engine
///    swapped out meanwhile are redone with the configured preprocessor; inputs are released
///    (device buffers go back to their pool) as soon as the call returns;
/// 3. one **postprocess** thread: decodes outputs, writes result lines to the sink, records
///    per-stage latency and FPS, and prints a periodic report.
/// `run()` returns the final summary when the sources end, the frame or time limit is reached,
/// or `stop()` is called (SIGINT/SIGTERM); queued frames are drained, never discarded.
public final class FrameLoop: Sendable {
    /// Limits and reporting of one run.
    public struct Configuration: Sendable {
        /// Stop after this many frames in total (all streams); nil for no limit.
        public var maxFrames: Int?
        /// Stop after this many seconds; nil for no limit.
        public var duration: Double?
        /// Frames queued per stream between capture and inference.
        public var queueDepth: Int
        /// Seconds between periodic reports; nil for none.
        public var reportInterval: Double?
        /// Run the stages on their own threads (true) or one after another on one thread, for
        /// comparison (`kiln-bench loop`).
        public var pipelined: Bool
        /// Makes a preprocessor for a spec, on the thread that will use it (CPU by default;
        /// `PreprocessorChoice.automatic` uses the GPU when one is present).
        public var makePreprocessor: @Sendable (PreprocessSpec) -> any FramePreprocessor
        /// Asked once per inferred frame, before its pixels go back to the source: whether the
        /// postprocessor should get a copy (`FrameContext.pixels`; `FrameAnnotator.wantsPixels`).
        public var keepPixels: (@Sendable (_ stream: String, _ index: Int) -> Bool)?

        /// Creates a configuration.
        public init(maxFrames: Int? = nil, duration: Double? = nil, queueDepth: Int = 2, reportInterval: Double? = 5,
                    pipelined: Bool = true,
                    makePreprocessor: @escaping @Sendable (PreprocessSpec) -> any FramePreprocessor = { CPUPreprocessor(spec: $0) }) {
            self.maxFrames = maxFrames
            self.duration = duration
            self.queueDepth = queueDepth
            self.reportInterval = reportInterval
            self.pipelined = pipelined
            self.makePreprocessor = makePreprocessor
        }
    }

    /// Callbacks into telemetry and sinks; each is called on a loop thread and must not block long.
    public struct Observers: Sendable {
        /// A frame finished, with its stage latencies in seconds.
        public var frameFinished: (@Sendable (_ stream: String, _ stages: [PipelineStage: Double]) -> Void)?
        /// Frames were dropped.
        public var framesDropped: (@Sendable (_ stream: String, _ reason: String, _ count: Int) -> Void)?
        /// A postprocessor produced a result line.
        public var result: (@Sendable (_ line: String) -> Void)?
        /// The periodic report is due.
        public var report: (@Sendable (_ summary: LoopSummary) -> Void)?

        /// Creates observers.
        public init(frameFinished: (@Sendable (String, [PipelineStage: Double]) -> Void)? = nil,
                    framesDropped: (@Sendable (String, String, Int) -> Void)? = nil,
                    result: (@Sendable (String) -> Void)? = nil,
                    report: (@Sendable (LoopSummary) -> Void)? = nil) {
            self.frameFinished = frameFinished
            self.framesDropped = framesDropped
            self.result = result
            self.report = report
        }

        /// Observers that call `self`'s callbacks, then `other`'s.
        public func merged(with other: Observers) -> Observers {
            let a = self, b = other
            var merged = Observers()
            merged.frameFinished = { (stream: String, stages: [PipelineStage: Double]) in
                a.frameFinished?(stream, stages)
                b.frameFinished?(stream, stages)
            }
            merged.framesDropped = { (stream: String, reason: String, count: Int) in
                a.framesDropped?(stream, reason, count)
                b.framesDropped?(stream, reason, count)
            }
            merged.result = { (line: String) in
                a.result?(line)
                b.result?(line)
            }
            merged.report = { (summary: LoopSummary) in
                a.report?(summary)
                b.report?(summary)
            }
            return merged
        }
    }

    /// A frame on its way from capture to postprocessing.
    private struct InFlight: Sendable {
        var frame: Frame
        /// The engine input; nil once inference has used it.
        var input: TensorValue?
        /// Where a host input's bytes go back after inference.
        var tensorPool: ByteBufferPool?
        var geometry: LetterboxGeometry
        var spec: PreprocessSpec
        var preprocessSeconds: Double
        /// Seconds spent waiting in queues so far (before preprocessing; then in the mux).
        var queueSeconds: Double
        /// When preprocessing finished (the mux wait starts).
        var preprocessed: Double
        /// The frame's RGB pixels, kept for the postprocessor when `keepPixels` asked for them.
        var kept: [UInt8]? = nil

        /// Keeps the pixels when `keep` asks for them (RGB frames only).
        mutating func keepPixels(_ keep: (@Sendable (String, Int) -> Bool)?) {
            guard let keep, frame.format == .rgb24, keep(frame.stream, frame.index) else { return }
            kept = frame.pixels  // shared until the pool reuses the buffer, which then copies it
        }

        /// Drops the input once inference has used it: host bytes go back to the preprocessor's
        /// pool, a device buffer to its GPU pool.
        mutating func releaseInput() {
            guard let used = input.take() else { return }
            if case .host(let tensor) = consume used { tensorPool?.recycle(tensor.bytes) }
        }

        /// Once inference is done with the frame (used or failed): its input goes back to its pool
        /// and its pixels to the source's pool. Postprocessing needs only the frame's size, index
        /// and times, so at most the frames between capture and inference hold pixel buffers.
        mutating func releaseBuffers() {
            releaseInput()
            frame.recycle()
        }
    }

    /// One engine call's frames and what came back.
    private struct Completed: Sendable {
        var items: [InFlight]
        var outputs: [[String: Tensor]]
        var inferSeconds: Double
        var engine: ActiveEngine
    }

    /// The streams this loop reads.
    public let sources: [any FrameSource]
    /// The engine the loop serves from.
    public let slot: EngineSlot
    /// Decodes outputs into results.
    public let postprocessor: any FramePostprocessor
    /// Limits and reporting.
    public let configuration: Configuration
    /// Statistics, readable while the loop runs.
    public let statistics: LoopStatistics
    private let observers: Observers
    private let stopping = Atomic<Bool>(false)
    private let admitted = Atomic<Int>(0)
    private let firstError = Mutex<(any Error)?>(nil)
    /// The first frame that failed in preprocessing, inference or postprocessing, and how many did.
    private let frameFailures = Mutex<(first: (any Error)?, count: Int)>((nil, 0))
    /// Frames that made it through every stage.
    private let succeeded = Atomic<Int>(0)
    /// Set once any engine call has succeeded: a model that fails its very first call (or whose
    /// outputs the decoder refuses) stops the run with an error instead of failing every frame.
    private let servedOnce = Atomic<Bool>(false)

    /// Creates a loop over `sources` serving from `slot`.
    public init(sources: [any FrameSource], slot: EngineSlot, postprocessor: any FramePostprocessor = NoPostprocessor(),
                configuration: Configuration = Configuration(), observers: Observers = Observers(),
                statistics: LoopStatistics = LoopStatistics()) {
        precondition(!sources.isEmpty, "FrameLoop needs at least one source")
        self.sources = sources
        self.slot = slot
        self.postprocessor = postprocessor
        self.configuration = configuration
        self.observers = observers
        self.statistics = statistics
    }

    /// Set when frames failed and none succeeded: how many failed and the first error.
    public var everyFrameFailed: (failed: Int, first: any Error)? {
        guard succeeded.load(ordering: .acquiring) == 0 else { return nil }
        return frameFailures.withLock { f in f.first.map { (f.count, $0) } }
    }

    /// Records a frame that failed in some stage.
    private func recordFailure(_ error: any Error, frames: Int = 1) {
        frameFailures.withLock { f in
            if f.first == nil { f.first = error }
            f.count += frames
        }
    }

    /// Asks the loop to finish: sources close, queued frames drain, `run()` returns the summary.
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for source in sources { source.close() }
    }

    /// Runs the loop to completion on its own threads and returns the final summary.
    ///
    /// Task cancellation stops the loop the same way `stop()` does. Throws the first source
    /// error once everything queued has drained.
    public func run() async throws -> LoopSummary {
        // A live stream queues one frame at each hand-off: the newest replaces it (see capture).
        let depths = sources.map { $0.isLive ? 1 : configuration.queueDepth }
        let mux = StreamMux<InFlight>(depths: depths)
        let post = BoundedQueue<Completed>(capacity: 2)
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                /// Called once by the last thread to finish: resumes `run()` with the first error, if any.
                let finished: @Sendable () -> Void = {
                    if let error = self.firstError.withLock({ $0 }) { done.resume(throwing: error) } else { done.resume() }
                }
                if configuration.pipelined {
                    for (index, source) in sources.enumerated() {
                        let captured = BoundedQueue<Frame>(capacity: depths[index])
                        spawn("kiln-capture-\(index)") { self.capture(source, into: captured) }
                        spawn("kiln-prep-\(index)") { self.preprocess(from: captured, stream: index, into: mux) }
                    }
                    spawn("kiln-infer") { self.infer(from: mux, to: post) }
                    spawn("kiln-post") {
                        self.postprocess(from: post)
                        self.postprocessor.finish()
                        finished()
                    }
                } else {
                    spawn("kiln-serial") {
                        self.serial()
                        self.postprocessor.finish()
                        finished()
                    }
                }
                if let duration = configuration.duration {
                    DispatchQueue.global().asyncAfter(deadline: .now() + duration) { self.stop() }
                }
            }
        } onCancel: {
            self.stop()
        }
        return statistics.summary()
    }

    // MARK: 1. Capture (one thread per stream)

    /// Reads `source` into `queue`. A live source's frame replaces the one still waiting there
    /// (dropped as `stale`: the model was busy, a newer frame exists); a file's waits for room.
    private func capture(_ source: any FrameSource, into queue: BoundedQueue<Frame>) {
        defer { queue.close() }
        var reportedDrops: [String: Int] = [:]
        while !stopping.load(ordering: .acquiring) {
            if let limit = configuration.maxFrames {
                guard admitted.add(1, ordering: .relaxed).newValue <= limit else { stop(); break }
            }
            // A file's next frame is read only once the queue has room for it: one frame buffer
            // fewer held per stream (a live source's frame replaces the waiting one instead).
            if !source.isLive, !queue.waitForRoom() { break }
            let frame: Frame
            do {
                guard let next = try source.next() else { break }
                frame = next
            } catch {
                Log.error("source \(source.description): \(error)")
                firstError.withLock { if $0 == nil { $0 = error } }
                break
            }
            let stream = frame.stream
            if source.isLive {
                if var evicted = queue.pushDroppingOldest(frame) {
                    evicted.recycle()
                    drop(stream, "stale", 1)
                }
            } else {
                queue.push(frame)
            }
            for (reason, total) in source.droppedFrames where total > reportedDrops[reason, default: 0] {
                drop(stream, reason, total - reportedDrops[reason, default: 0])
                reportedDrops[reason] = total
            }
        }
    }

    // MARK: 1b. Preprocess (one thread per stream)

    /// Preprocesses `queue`'s frames into `mux`; a live stream's frame replaces the one still
    /// waiting for the engine there (that one is dropped as `stale`).
    private func preprocess(from queue: BoundedQueue<Frame>, stream: Int, into mux: StreamMux<InFlight>) {
        defer { mux.finish(stream: stream) }
        var preprocessor: (any FramePreprocessor)?
        let live = sources[stream].isLive
        while true {
            // A file stream takes its next frame once the engine's queue has room for it, so the
            // frame does not wait there preprocessed, its pixels and input held, while the queue is full.
            if !live { mux.waitForRoom(stream: stream) }
            guard var frame = queue.pop() else { break }
            let engine = slot.current.engine
            let spec = engine.preprocess
            if preprocessor?.spec != spec { preprocessor = configuration.makePreprocessor(spec) }
            let t0 = MonotonicClock.now
            let waited = max(0, t0 - frame.captureTime)
            do {
                let (input, geometry) = try preprocessor!.value(for: frame, memory: engine.runner.inputMemory)
                let t1 = MonotonicClock.now
                // Moved, not copied, into the queue: inference recycles the buffers, and no copy
                // left here may keep them shared when a later frame takes them again.
                let item = InFlight(frame: consume frame, input: consume input, tensorPool: preprocessor!.tensorPool, geometry: geometry,
                                    spec: spec, preprocessSeconds: t1 - t0, queueSeconds: waited,
                                    preprocessed: t1)
                if var stale = mux.push(consume item, stream: stream, live: live) {
                    stale.releaseBuffers()
                    drop(stale.frame.stream, "stale", 1)
                }
            } catch {
                Log.error("stream \(frame.stream) frame \(frame.index): \(error)")
                recordFailure(error)
                drop(frame.stream, "preprocess_error", 1)
                frame.recycle()
            }
        }
    }

    // MARK: 2. Inference (one thread)

    private func infer(from mux: StreamMux<InFlight>, to post: BoundedQueue<Completed>) {
        defer { post.close() }
        var failures = 0
        var redo: (any FramePreprocessor)?
        while true {
            let (engine, generation) = slot.current
            guard var batch = mux.popBatch(max: engine.dynamicBatch ? engine.maxBatch : 1) else { break }
            let taken = MonotonicClock.now
            var items: [InFlight] = []
            for var item in batch.map(\.item) {
                item.queueSeconds += max(0, taken - item.preprocessed)
                // A frame preprocessed for an engine that has since been swapped out is redone for
                // this one, with the configured preprocessor.
                if item.spec != engine.preprocess {
                    if redo?.spec != engine.preprocess { redo = configuration.makePreprocessor(engine.preprocess) }
                    let t0 = MonotonicClock.now
                    do {
                        item.releaseInput()
                        (item.input, item.geometry) = try redo!.value(for: item.frame, memory: engine.runner.inputMemory)
                        item.tensorPool = redo!.tensorPool
                        item.spec = engine.preprocess
                        item.preprocessSeconds += MonotonicClock.now - t0
                    } catch {
                        Log.error("stream \(item.frame.stream) frame \(item.frame.index): redoing preprocessing for \(engine.model): \(error)")
                        drop(item.frame.stream, "preprocess_error", 1)
                        item.releaseBuffers()
                        continue
                    }
                }
                items.append(item)
            }
            batch.removeAll()  // `items` now holds the only references to the frames' buffers
            guard !items.isEmpty else { continue }
            let t0 = MonotonicClock.now
            do {
                let outputs = try run(engine, items.compactMap(\.input))
                for i in items.indices {
                    items[i].keepPixels(configuration.keepPixels)
                    items[i].releaseBuffers()
                }
                let seconds = MonotonicClock.now - t0
                slot.report(generation: generation, frames: items.count, inferSeconds: seconds, failed: false)
                servedOnce.store(true, ordering: .releasing)
                post.push(Completed(items: items, outputs: outputs, inferSeconds: seconds, engine: engine))
            } catch {
                slot.report(generation: generation, frames: items.count, inferSeconds: nil, failed: true)
                if !servedOnce.load(ordering: .acquiring) {
                    let size = engine.inputSize?.text ?? "\(engine.preprocess.width)x\(engine.preprocess.height)"
                    fail(InvalidModelError("model \(engine.model) failed on its first frame with input \(engine.inputName) at \(size): \(error); if the model needs another size, give it with --preprocess WxH (or height=N / width=N)"))
                }
                failures += 1
                recordFailure(error, frames: items.count)
                if failures <= 5 || failures % 100 == 0 {
                    Log.error("inference failed on \(engine.model) (\(failures) so far): \(error)")
                }
                for i in items.indices {
                    items[i].releaseBuffers()
                    drop(items[i].frame.stream, "inference_error", 1)
                }
            }
        }
    }

    /// Runs one engine call for one or several frames; several are stacked on the batch axis
    /// (in host memory: a device input is downloaded once to be stacked).
    private func run(_ engine: ActiveEngine, _ inputs: [TensorValue]) throws -> [[String: Tensor]] {
        if inputs.count == 1 { return [try engine.runner.run(values: [engine.inputName: inputs[0]])] }
        let tensors = try inputs.map { try $0.hostTensor() }
        var stacked = tensors[0]
        stacked.shape[0] = tensors.count
        stacked.bytes = tensors.flatMap(\.bytes)
        let outputs = try engine.runner.run([engine.inputName: stacked])
        return (0..<tensors.count).map { i in
            outputs.mapValues { t in
                guard t.shape.first == tensors.count else { return t }
                let per = t.bytes.count / tensors.count
                var one = t
                one.shape[0] = 1
                one.bytes = Array(t.bytes[(i * per)..<((i + 1) * per)])
                return one
            }
        }
    }

    // MARK: 3. Postprocess, sinks and statistics (one thread)

    private func postprocess(from post: BoundedQueue<Completed>) {
        var reporter = Reporter(interval: configuration.reportInterval)
        while let completed = post.pop() {
            for (item, outputs) in zip(completed.items, completed.outputs) {
                finish(item, outputs: outputs, inferSeconds: completed.inferSeconds, engine: completed.engine)
            }
            reporter.tick(self)
        }
    }

    /// Postprocesses one frame, hands its result to the sink and records its statistics.
    private func finish(_ item: InFlight, outputs: [String: Tensor], inferSeconds: Double, engine: ActiveEngine) {
        let t0 = MonotonicClock.now
        let context = FrameContext(stream: item.frame.stream, index: item.frame.index, width: item.frame.width,
                                   height: item.frame.height, geometry: item.geometry,
                                   model: engine.model, digest: engine.digest,
                                   outputNames: engine.runner.outputs.map(\.name), captureTime: item.frame.captureTime,
                                   inputSize: (item.spec.width, item.spec.height), modelLabels: engine.labels,
                                   engineKey: engine.engineKey, modelSettings: engine.postprocess, pixels: item.kept)
        do {
            if let line = try postprocessor.process(outputs: outputs, context: context) { observers.result?(line) }
            succeeded.add(1, ordering: .relaxed)
        } catch {
            Log.error("postprocess \(item.frame.stream) frame \(item.frame.index): \(error)")
            recordFailure(error)
            // A decoder that does not fit the model's outputs fails every frame alike: stop.
            if let e = error as? any KilnError, e.exitCode == .invalidModel { fail(e) }
        }
        // End to end: from the frame's capture (the start of its read) to its result handed to
        // the sinks; the time it waited behind a busy model is the `queue` stage.
        let now = MonotonicClock.now
        let stages: [PipelineStage: Double] = [
            .capture: item.frame.captureSeconds, .queue: item.queueSeconds, .preprocess: item.preprocessSeconds,
            .infer: inferSeconds, .postprocess: now - t0,
            .endToEnd: now - (item.frame.captureTime - item.frame.captureSeconds),
        ]
        statistics.recordFrame(stream: item.frame.stream, stages: stages, at: now)
        observers.frameFinished?(item.frame.stream, stages)
    }

    /// Calls the periodic-report observer every `interval` seconds.
    private struct Reporter {
        var interval: Double?
        var due: Double?
        init(interval: Double?) {
            self.interval = interval
            due = interval.map { MonotonicClock.now + $0 }
        }
        mutating func tick(_ loop: FrameLoop) {
            guard let d = due, let interval, MonotonicClock.now >= d else { return }
            loop.observers.report?(loop.statistics.summary())
            due = d + interval
        }
    }

    // MARK: Serial mode (every stage on one thread, for comparison)

    private func serial() {
        var preprocessors: [(any FramePreprocessor)?] = Array(repeating: nil, count: sources.count)
        var active = Array(sources.indices)
        var reporter = Reporter(interval: configuration.reportInterval)
        while !active.isEmpty && !stopping.load(ordering: .acquiring) {
            for index in active {
                if let limit = configuration.maxFrames, admitted.add(1, ordering: .relaxed).newValue > limit {
                    stop()
                    return
                }
                do {
                    guard let frame = try sources[index].next() else {
                        active.removeAll { $0 == index }
                        continue
                    }
                    let (engine, generation) = slot.current
                    if preprocessors[index]?.spec != engine.preprocess { preprocessors[index] = configuration.makePreprocessor(engine.preprocess) }
                    let t0 = MonotonicClock.now
                    let (input, geometry) = try preprocessors[index]!.value(for: frame, memory: engine.runner.inputMemory)
                    let t1 = MonotonicClock.now
                    var item = InFlight(frame: frame, input: input, tensorPool: preprocessors[index]!.tensorPool, geometry: geometry,
                                        spec: engine.preprocess, preprocessSeconds: t1 - t0,
                                        queueSeconds: max(0, t0 - frame.captureTime), preprocessed: t1)
                    let outputs = try engine.runner.run(values: [engine.inputName: input])
                    let inferSeconds = MonotonicClock.now - t1
                    item.keepPixels(configuration.keepPixels)
                    item.releaseBuffers()
                    slot.report(generation: generation, frames: 1, inferSeconds: inferSeconds, failed: false)
                    finish(item, outputs: outputs, inferSeconds: inferSeconds, engine: engine)
                } catch {
                    Log.error("stream \(sources[index].description): \(error)")
                    firstError.withLock { if $0 == nil { $0 = error } }
                    active.removeAll { $0 == index }
                }
                reporter.tick(self)
            }
        }
    }

    /// Records `error` as the run's outcome (unless one is already recorded) and stops the loop.
    private func fail(_ error: any Error) {
        firstError.withLock { if $0 == nil { $0 = error } }
        stop()
    }

    private func drop(_ stream: String, _ reason: String, _ count: Int) {
        statistics.recordDrop(stream: stream, reason: reason, count: count)
        observers.framesDropped?(stream, reason, count)
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
    }
}
