import Foundation
import KilnAgent
import KilnCore
import KilnInference
import KilnVideo
import Synchronization
import Testing

/// An engine for loop mechanics: outputs the per-channel mean of its input, tagged with its
/// own id, and records which frames it saw (by the first pixel value it was fed).
final class ChannelMeanRunner: InferenceRunner, @unchecked Sendable {
    let id: Float
    let inputs: [TensorDescriptor]
    let outputs = [TensorDescriptor(name: "mean", elementType: .float32, shape: [nil, 4])]
    let calls = Mutex<[Int]>([])

    init(id: Float, dynamicBatch: Bool = false, side: Int = 16) {
        self.id = id
        inputs = [TensorDescriptor(name: "image", elementType: .float32, shape: [dynamicBatch ? nil : 1, 3, side, side])]
    }

    func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        let t = try #require(inputs["image"])
        let n = t.shape[0], plane = t.shape[2] * t.shape[3]
        let v = t.floatValues()
        calls.withLock { $0.append(n) }
        var out: [Float] = []
        for b in 0..<n {
            for c in 0..<3 {
                let s = v[(b * 3 + c) * plane..<(b * 3 + c + 1) * plane]
                out.append(s.reduce(0, +) / Float(plane))
            }
            out.append(id)
        }
        return ["mean": Tensor(shape: [n, 4], floats: out)]
    }
}

/// Collects result lines.
final class Lines: Sendable {
    let lines = Mutex<[String]>([])
    func append(_ l: String) { lines.withLock { $0.append(l) } }
}

struct IDPostprocessor: FramePostprocessor {
    func process(outputs: [String: Tensor], context: FrameContext) throws -> String? {
        let v = try #require(outputs["mean"]).floatValues()
        return "\(context.stream) \(context.index) \(Int(v[3]))"
    }
}

@Suite struct FrameLoopTests {
    func engine(_ runner: ChannelMeanRunner, side: Int = 16) -> ActiveEngine {
        ActiveEngine(runner: runner, preprocess: PreprocessSpec(width: side, height: side), model: "test", digest: "sha256:0", backend: "test")
    }

    @Test func fileLikeSourceDeliversEveryFrameExactlyOnce() async throws {
        let slot = EngineSlot(engine(ChannelMeanRunner(id: 1)))
        let lines = Lines()
        let loop = FrameLoop(sources: [SyntheticSource(width: 64, height: 48, frameLimit: 50)], slot: slot,
                             postprocessor: IDPostprocessor(), observers: .init(result: lines.append))
        let summary = try await loop.run()
        #expect(summary.frames == 50)
        #expect(summary.dropped == 0)
        let indices = lines.lines.withLock { $0 }.map { Int($0.split(separator: " ")[1])! }
        #expect(indices == Array(0..<50))
        #expect(summary.latencyMilliseconds["end_to_end"]!.p50 > 0)
    }

    @Test func swapLandsBetweenFramesWithoutDropsOrRepeats() async throws {
        let a = ChannelMeanRunner(id: 1), b = ChannelMeanRunner(id: 2)
        let slot = EngineSlot(engine(a))
        let lines = Lines()
        let swapped = Atomic<Bool>(false)
        let loop = FrameLoop(
            sources: [SyntheticSource(width: 64, height: 48, frameLimit: 400)], slot: slot, postprocessor: IDPostprocessor(),
            observers: .init(frameFinished: { _, _ in }, result: { line in
                lines.append(line)
                if line.hasSuffix(" 100 1"), !swapped.exchange(true, ordering: .relaxed) { slot.swap(to: engine(b)) }
            }))
        let summary = try await loop.run()
        let parsed = lines.lines.withLock { $0 }.map { $0.split(separator: " ").map(String.init) }
        #expect(summary.frames == 400 && summary.dropped == 0)
        #expect(parsed.map { Int($0[1])! } == Array(0..<400))
        let ids = parsed.map { $0[2] }
        let firstB = try #require(ids.firstIndex(of: "2"))
        #expect(ids[..<firstB].allSatisfy { $0 == "1" } && ids[firstB...].allSatisfy { $0 == "2" })
        #expect(slot.health(generation: 2).frames == 400 - firstB)
    }

    @Test func severalStreamsShareOneCallWhenTheBatchAxisIsDynamic() async throws {
        let runner = ChannelMeanRunner(id: 1, dynamicBatch: true)
        let slot = EngineSlot(engine(runner))
        let sources = (0..<3).map { SyntheticSource(width: 64, height: 48, frameLimit: 40, stream: "cam\($0)") }
        let lines = Lines()
        let loop = FrameLoop(sources: sources, slot: slot, postprocessor: IDPostprocessor(), observers: .init(result: lines.append))
        let summary = try await loop.run()
        #expect(summary.frames == 120)
        #expect(Set(summary.streams.keys) == ["cam0", "cam1", "cam2"])
        #expect(summary.streams.values.allSatisfy { $0.frames == 40 })
        #expect(runner.calls.withLock { $0 }.contains { $0 > 1 })
        for cam in 0..<3 {
            let idx = lines.lines.withLock { $0 }.filter { $0.hasPrefix("cam\(cam) ") }.map { Int($0.split(separator: " ")[1])! }
            #expect(idx == Array(0..<40))
        }
    }

    @Test func liveSourceKeepsTheLatestAndCountsDrops() async throws {
        final class SlowRunner: InferenceRunner, @unchecked Sendable {
            let inner = ChannelMeanRunner(id: 1)
            var inputs: [TensorDescriptor] { inner.inputs }
            var outputs: [TensorDescriptor] { inner.outputs }
            func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
                Thread.sleep(forTimeInterval: 0.02)
                return try inner.run(inputs)
            }
        }
        let slot = EngineSlot(ActiveEngine(runner: SlowRunner(), preprocess: PreprocessSpec(width: 16, height: 16), model: "t", digest: "d", backend: "t"))
        let loop = FrameLoop(sources: [SyntheticSource(width: 64, height: 48, framesPerSecond: 200)], slot: slot,
                             configuration: .init(duration: 1))
        let summary = try await loop.run()
        #expect(summary.frames > 10)
        #expect(summary.dropped > 50)
        #expect(summary.frames + summary.dropped > 150)
    }

    @Test func stopDrainsAndReturns() async throws {
        let slot = EngineSlot(engine(ChannelMeanRunner(id: 1)))
        let loop = FrameLoop(sources: [SyntheticSource(width: 64, height: 48)], slot: slot)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { loop.stop() }
        let summary = try await loop.run()
        #expect(summary.frames > 0)
    }
}

@Suite struct FrameLoopSerialModeTests {
    @Test func serialModeDeliversTheSameFramesInOrder() async throws {
        let slot = EngineSlot(ActiveEngine(runner: ChannelMeanRunner(id: 7), preprocess: PreprocessSpec(width: 16, height: 16),
                                           model: "t", digest: "d", backend: "t"))
        let lines = Lines()
        let loop = FrameLoop(sources: [SyntheticSource(width: 64, height: 48, frameLimit: 30, stream: "a"),
                                       SyntheticSource(width: 64, height: 48, frameLimit: 20, stream: "b")],
                             slot: slot, postprocessor: IDPostprocessor(),
                             configuration: .init(pipelined: false), observers: .init(result: lines.append))
        let summary = try await loop.run()
        #expect(summary.frames == 50)
        let a = lines.lines.withLock { $0 }.filter { $0.hasPrefix("a ") }.map { Int($0.split(separator: " ")[1])! }
        #expect(a == Array(0..<30))
    }
}
