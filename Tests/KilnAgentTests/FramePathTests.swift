import Foundation
import KilnAgent
import KilnCore
import KilnInference
import KilnVideo
import Synchronization
import Testing

/// What the frame path did, counted across threads.
final class FramePathCounters: Sendable {
    /// Device tensors read back to the host.
    let downloads = Atomic<Int>(0)
    /// Device tensors whose memory was released.
    let released = Atomic<Int>(0)
    /// Frames the configured preprocessor turned into tensors.
    let preprocessed = Atomic<Int>(0)
}

/// Host memory standing in for GPU memory, counting reads back to the host, so the loop's routing
/// of device tensors (bound in place, or downloaded exactly once) is checked on a machine without
/// a GPU. The real device path (`GPUTensorPool`, the GPU preprocessor) is checked in KilnCUDATests
/// and by `kiln-bench loop --gpu` on the GPU host.
final class CountingDeviceStorage: DeviceTensorStorage, @unchecked Sendable {  // bytes written once, before sharing
    let bytes: UnsafeMutableRawBufferPointer
    let counters: FramePathCounters

    init(_ tensor: Tensor, counters: FramePathCounters) {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(tensor.bytes.count, 1), alignment: 64)
        tensor.bytes.withUnsafeBytes { bytes.copyMemory(from: $0) }
        self.bytes = bytes
        self.counters = counters
    }

    deinit {
        bytes.deallocate()
        counters.released.add(1, ordering: .relaxed)
    }

    var deviceAddress: UInt64 { UInt64(UInt(bitPattern: bytes.baseAddress)) }
    var byteCount: Int { bytes.count }
    var deviceIndex: Int { 0 }
    func copyToHost(_ destination: UnsafeMutableRawPointer, count: Int) throws {
        counters.downloads.add(1, ordering: .relaxed)
        destination.copyMemory(from: bytes.baseAddress!, byteCount: count)
    }
}

/// The CPU preprocessor's output plus `mark` on every element (so a tensor made by anything else
/// is recognisable), in device memory when asked for it; throws when `fails`.
final class MarkingPreprocessor: FramePreprocessor {
    let spec: PreprocessSpec
    let cpu: CPUPreprocessor
    let mark: Float
    let fails: Bool
    let counters: FramePathCounters
    var tensorPool: ByteBufferPool { cpu.tensorPool }

    init(spec: PreprocessSpec, mark: Float, fails: Bool = false, counters: FramePathCounters) {
        self.spec = spec
        cpu = CPUPreprocessor(spec: spec)
        self.mark = mark
        self.fails = fails
        self.counters = counters
    }

    func tensor(for frame: Frame) throws -> (Tensor, LetterboxGeometry) {
        if fails { throw RuntimeError("marking preprocessor for \(spec.width)x\(spec.height) fails by design") }
        let (t, g) = try cpu.tensor(for: frame)
        counters.preprocessed.add(1, ordering: .relaxed)
        return (Tensor(shape: t.shape, floats: t.floatValues().map { $0 + mark }), g)
    }

    func value(for frame: Frame, memory: TensorMemory) throws -> (TensorValue, LetterboxGeometry) {
        let (t, g) = try tensor(for: frame)
        guard memory == .device else { return (.host(t), g) }
        let storage = CountingDeviceStorage(t, counters: counters)
        return (.device(try DeviceTensor(elementType: t.elementType, shape: t.shape, storage: storage)), g)
    }
}

/// An engine that checks each input: its shape, that every element carries the marking
/// preprocessor's mark, and which memory it arrived in.
final class MarkCheckingRunner: InferenceRunner, @unchecked Sendable {  // state behind Mutexes
    let side: Int
    let mark: Float
    let inputMemory: TensorMemory
    let inputs: [TensorDescriptor]
    let outputs = [TensorDescriptor(name: "mean", elementType: .float32, shape: [1, 4])]
    /// Per call: (memory the input arrived in, whether it was marked and of the right shape).
    let seen = Mutex<[(TensorMemory, Bool)]>([])

    init(side: Int, mark: Float, inputMemory: TensorMemory) {
        self.side = side
        self.mark = mark
        self.inputMemory = inputMemory
        inputs = [TensorDescriptor(name: "image", elementType: .float32, shape: [1, 3, side, side])]
    }

    func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        try run(values: inputs.mapValues { .host($0) })
    }

    func run(values: [String: TensorValue]) throws -> [String: Tensor] {
        let value = try #require(values["image"])
        let floats: [Float]
        switch value {
        case .host(let t):
            floats = t.floatValues()
        case .device(let d):
            // The test's "device" memory is host memory: read it at its address, as a GPU runner binds it.
            let p = UnsafeRawPointer(bitPattern: UInt(d.address))!.assumingMemoryBound(to: Float.self)
            floats = Array(UnsafeBufferPointer(start: p, count: d.elementCount))
        }
        // CPU-preprocessed values of a synthetic frame lie within [-3, 3]; the mark lifts them far above.
        let ok = value.shape == [1, 3, side, side] && floats.allSatisfy { $0 > mark - 10 && $0 < mark + 10 }
        seen.withLock { $0.append((value.memory, ok)) }
        return ["mean": Tensor(shape: [1, 4], floats: [0, 0, 0, mark])]
    }
}

@Suite struct FramePathTests {
    static func engine(_ runner: MarkCheckingRunner) -> ActiveEngine {
        ActiveEngine(runner: runner, preprocess: PreprocessSpec(width: runner.side, height: runner.side),
                     model: "side\(runner.side)", digest: "sha256:\(runner.side)", backend: "test")
    }

    /// A loop over one synthetic source whose preprocessor marks its tensors with 100 for 16x16 and
    /// 200 for 24x24 (throwing for 24x24 when `failingSecond`); engine `a` is swapped for `b` after
    /// `swapAfter` results. Engine `a` is slow, so frames queue behind it at the swap.
    static func runSwap(frames: Int, swapAfter: Int, a: MarkCheckingRunner, b: MarkCheckingRunner, failingSecond: Bool = false,
                        counters: FramePathCounters) async throws -> LoopSummary {
        final class Slow: InferenceRunner, @unchecked Sendable {  // immutable after init
            let inner: MarkCheckingRunner
            init(_ inner: MarkCheckingRunner) { self.inner = inner }
            var inputs: [TensorDescriptor] { inner.inputs }
            var outputs: [TensorDescriptor] { inner.outputs }
            var inputMemory: TensorMemory { inner.inputMemory }
            func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] { try inner.run(inputs) }
            func run(values: [String: TensorValue]) throws -> [String: Tensor] {
                Thread.sleep(forTimeInterval: 0.005)
                return try inner.run(values: values)
            }
        }
        let slot = EngineSlot(ActiveEngine(runner: Slow(a), preprocess: PreprocessSpec(width: a.side, height: a.side),
                                           model: "a", digest: "sha256:a", backend: "test"))
        let finished = Atomic<Int>(0)
        let loop = FrameLoop(
            sources: [SyntheticSource(width: 64, height: 48, frameLimit: frames)], slot: slot,
            configuration: .init(queueDepth: 4, reportInterval: nil, makePreprocessor: { spec in
                MarkingPreprocessor(spec: spec, mark: spec.width == 16 ? 100 : 200, fails: failingSecond && spec.width == 24,
                                    counters: counters)
            }),
            observers: .init(frameFinished: { _, _ in
                if finished.add(1, ordering: .relaxed).newValue == swapAfter { slot.swap(to: engine(b)) }
            }))
        return try await loop.run()
    }

    @Test func queuedFramesAfterASwapAreRedoneWithTheConfiguredPreprocessor() async throws {
        let counters = FramePathCounters()
        let a = MarkCheckingRunner(side: 16, mark: 100, inputMemory: .host)
        let b = MarkCheckingRunner(side: 24, mark: 200, inputMemory: .host)
        let summary = try await Self.runSwap(frames: 60, swapAfter: 10, a: a, b: b, counters: counters)
        #expect(summary.frames == 60 && summary.dropped == 0)
        let seenA = a.seen.withLock { $0 }, seenB = b.seen.withLock { $0 }
        #expect(seenA.count + seenB.count == 60)
        #expect(seenB.count >= 40)
        // Every input engine b saw came from the configured preprocessor, made for b's spec.
        #expect(seenA.allSatisfy(\.1) && seenB.allSatisfy(\.1))
        // Frames queued for a at the swap were preprocessed again, for b.
        #expect(counters.preprocessed.load(ordering: .relaxed) > 60)
    }

    @Test func aRedoThatFailsDropsTheFrameAsAPreprocessError() async throws {
        let counters = FramePathCounters()
        let a = MarkCheckingRunner(side: 16, mark: 100, inputMemory: .host)
        let b = MarkCheckingRunner(side: 24, mark: 200, inputMemory: .host)
        let summary = try await Self.runSwap(frames: 60, swapAfter: 10, a: a, b: b, failingSecond: true, counters: counters)
        // Engine b never runs a stale tensor: every frame after the swap is dropped, named.
        #expect(b.seen.withLock { $0 }.isEmpty)
        #expect(summary.frames == a.seen.withLock { $0 }.count)
        #expect(summary.frames + summary.dropped == 60)
        #expect(summary.dropped > 0)
        #expect(summary.streams.values.first?.droppedByReason["preprocess_error"] == summary.dropped)
    }

    static func runDevicePath(runnerMemory: TensorMemory, pipelined: Bool, frames: Int, counters: FramePathCounters) async throws -> MarkCheckingRunner {
        let runner = MarkCheckingRunner(side: 16, mark: 100, inputMemory: runnerMemory)
        let loop = FrameLoop(
            sources: [SyntheticSource(width: 64, height: 48, frameLimit: frames)], slot: EngineSlot(engine(runner)),
            configuration: .init(reportInterval: nil, pipelined: pipelined, makePreprocessor: { spec in
                MarkingPreprocessor(spec: spec, mark: 100, counters: counters)
            }))
        let summary = try await loop.run()
        #expect(summary.frames == frames && summary.dropped == 0)
        return runner
    }

    /// A device-capable runner gets the device tensor itself (no copy, its buffer released after
    /// the call); a host-only runner gets host tensors, which the preprocessor made without a download.
    @Test(arguments: [TensorMemory.device, .host], [true, false])
    func eachRunnerIsHandedItsInputInTheMemoryItReads(memory: TensorMemory, pipelined: Bool) async throws {
        let counters = FramePathCounters()
        let runner = try await Self.runDevicePath(runnerMemory: memory, pipelined: pipelined, frames: 40, counters: counters)
        let seen = runner.seen.withLock { $0 }
        #expect(seen.count == 40)
        #expect(seen.allSatisfy { $0.0 == memory && $0.1 })
        #expect(counters.downloads.load(ordering: .relaxed) == 0)
        #expect(counters.released.load(ordering: .relaxed) == (memory == .device ? 40 : 0))
    }

    @Test func aDeviceTensorGivenToAHostOnlyRunnerIsDownloadedOnce() throws {
        let counters = FramePathCounters()
        let tensor = Tensor(shape: [1, 3, 2, 2], floats: (0..<12).map(Float.init))
        let device = try DeviceTensor(elementType: .float32, shape: [1, 3, 2, 2], storage: CountingDeviceStorage(tensor, counters: counters))
        final class HostOnly: InferenceRunner, @unchecked Sendable {  // immutable after init
            let got = Mutex<[Tensor]>([])
            let inputs = [TensorDescriptor(name: "image", elementType: .float32, shape: [1, 3, 2, 2])]
            let outputs: [TensorDescriptor] = []
            func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
                got.withLock { $0.append(inputs["image"]!) }
                return [:]
            }
        }
        let hostOnly = HostOnly()
        #expect(hostOnly.inputMemory == .host)
        _ = try hostOnly.run(values: ["image": .device(device)])
        #expect(hostOnly.got.withLock { $0 } == [tensor])
        #expect(counters.downloads.load(ordering: .relaxed) == 1)
    }

    @Test func aDeviceTensorRefusesAShapeLargerThanItsStorage() throws {
        let counters = FramePathCounters()
        let storage = CountingDeviceStorage(Tensor(shape: [4], floats: [1, 2, 3, 4]), counters: counters)
        #expect(throws: RuntimeError.self) { try DeviceTensor(elementType: .float32, shape: [1, 3, 2, 2], storage: storage) }
        #expect(throws: RuntimeError.self) { try DeviceTensor(elementType: .float32, shape: [-1, 4], storage: storage) }
        #expect(try DeviceTensor(elementType: .float16, shape: [8], storage: storage).byteCount == 16)
    }
}

@Suite struct FramePoolTests {
    /// Frames and input tensors are reused in steady state: once the pipeline has filled, the
    /// source and the preprocessor allocate no new buffer however many frames run, and in all
    /// they allocate only as many as can be between capture and inference at once.
    @Test(arguments: [true, false])
    func frameAndTensorBuffersAreReusedInSteadyState(pipelined: Bool) async throws {
        let source = SyntheticSource(width: 320, height: 240, frameLimit: 300)
        let made = Mutex<[CPUPreprocessor]>([])
        // A 1 ms engine is the slowest stage, so the queues before it fill during the warm-up.
        let runner = SlowRunner(ChannelMeanRunner(id: 1), seconds: 0.001)
        let finished = Atomic<Int>(0)
        let afterWarmUp = Mutex<(frames: Int, tensors: Int)?>(nil)
        let allocations = { @Sendable () -> (frames: Int, tensors: Int) in
            (source.framePool.allocations, made.withLock { $0.map(\.tensorPool.allocations).reduce(0, +) })
        }
        let loop = FrameLoop(
            sources: [source],
            slot: EngineSlot(ActiveEngine(runner: runner, preprocess: PreprocessSpec(width: 16, height: 16), model: "t", digest: "d", backend: "t")),
            configuration: .init(queueDepth: 2, reportInterval: nil, pipelined: pipelined, makePreprocessor: { spec in
                let p = CPUPreprocessor(spec: spec)
                made.withLock { $0.append(p) }
                return p
            }),
            observers: .init(frameFinished: { _, _ in
                if finished.add(1, ordering: .relaxed).newValue == 50 { afterWarmUp.withLock { $0 = allocations() } }
            }))
        let summary = try await loop.run()
        #expect(summary.frames == 300)
        #expect(made.withLock { $0.count } == 1)
        let warm = try #require(afterWarmUp.withLock { $0 })
        let end = allocations()
        // Fresh buffers after the warm-up: none.
        #expect(end.frames == warm.frames)
        #expect(end.tensors == warm.tensors)
        // Between capture and inference at most: the capture queue (2, the frame being made
        // counted: a file's next frame is made only once there is room for it), the one being
        // preprocessed (taken only once the stream queue has room), the stream queue (2) and the
        // one being inferred; a tensor for each but the capture queue's.
        #expect(end.frames <= 6, "\(end)")
        #expect(end.tensors <= 4, "\(end)")
    }

    @Test func aPoolHandsBackWhatWasRecycledAndFreesBeyondItsLimit() {
        let pool = ByteBufferPool(limit: 2)
        var a = pool.take(count: 64)
        a[0] = 7
        let b = pool.take(count: 64), c = pool.take(count: 64)
        #expect(pool.allocations == 3)
        pool.recycle(consume a)
        pool.recycle(consume b)
        pool.recycle(consume c)  // beyond the limit: freed
        _ = pool.take(count: 64)
        _ = pool.take(count: 64)
        #expect(pool.allocations == 3)
        _ = pool.take(count: 64)
        #expect(pool.allocations == 4)
        // A recycled array of another size is not handed out for this one.
        pool.recycle([UInt8](repeating: 1, count: 32))
        #expect(pool.take(count: 64).count == 64)
        #expect(pool.allocations == 5)
    }
}

/// A runner that takes at least `seconds` per call, so that the stages before it fill their queues.
final class SlowRunner: InferenceRunner, Sendable {
    let wrapped: any InferenceRunner
    let seconds: Double
    var inputs: [TensorDescriptor] { wrapped.inputs }
    var outputs: [TensorDescriptor] { wrapped.outputs }

    init(_ wrapped: any InferenceRunner, seconds: Double) {
        self.wrapped = wrapped
        self.seconds = seconds
    }

    func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        Thread.sleep(forTimeInterval: seconds)
        return try wrapped.run(inputs)
    }
}
