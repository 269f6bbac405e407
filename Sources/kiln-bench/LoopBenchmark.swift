import Foundation
import Glibc
import KilnAgent
import KilnCore
import KilnCUDA
import KilnInference
import KilnVideo

/// The loop's own overhead per 1080p frame: capture (synthetic 1920×1080 RGB), CPU letterbox
/// preprocessing to 640×640, a no-op engine, statistics — pipelined versus serial, in frames/s.
/// With `--gpu`, also GPU preprocessing feeding a device-capable no-op engine (the TensorRT
/// runner's contract: binds the device tensor, no copy) and a host-only one (one download per
/// frame), with the host↔device copies per frame counted by `CUDATransfers`.
enum LoopBenchmark: Benchmark {
    static let name = "loop"
    static let summary = "frame-loop overhead per 1080p frame (no-op and 2 ms engines): pipelined vs serial"

    /// An engine that does no work: returns a one-element tensor at once. With `.device` input
    /// memory it takes device tensors as they are, as the TensorRT runner binds them.
    final class NoOpRunner: InferenceRunner, Sendable {
        let inputs = [TensorDescriptor(name: "images", elementType: .float32, shape: [1, 3, 640, 640])]
        let outputs = [TensorDescriptor(name: "out", elementType: .float32, shape: [1])]
        let inputMemory: TensorMemory
        init(inputMemory: TensorMemory = .host) { self.inputMemory = inputMemory }
        func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] { ["out": Tensor(shape: [1], floats: [0])] }
        func run(values: [String: TensorValue]) throws -> [String: Tensor] {
            if inputMemory == .host { _ = try values.mapValues { try $0.hostTensor() } }
            return ["out": Tensor(shape: [1], floats: [0])]
        }
    }

    /// An engine whose call takes `seconds` of wall time without using the CPU, as a GPU engine's
    /// does: shows what pipelining overlaps.
    final class WaitingRunner: InferenceRunner, Sendable {
        let seconds: Double
        init(seconds: Double) { self.seconds = seconds }
        let inputs = [TensorDescriptor(name: "images", elementType: .float32, shape: [1, 3, 640, 640])]
        let outputs = [TensorDescriptor(name: "out", elementType: .float32, shape: [1])]
        func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
            var ts = timespec(tv_sec: 0, tv_nsec: Int(seconds * 1e9))
            nanosleep(&ts, nil)
            return ["out": Tensor(shape: [1], floats: [0])]
        }
    }

    /// One measured run: the loop's summary and the host↔device copies it made.
    struct Measurement {
        var summary: LoopSummary
        var copies: CUDATransfers.Snapshot
        var fps: Double { summary.fps }
    }

    static func measure(pipelined: Bool, frames: Int, gpu: Bool = false, engineSeconds: Double = 0,
                        engineMemory: TensorMemory = .host) async throws -> Measurement {
        let runner: any InferenceRunner = engineSeconds > 0 ? WaitingRunner(seconds: engineSeconds) : NoOpRunner(inputMemory: engineMemory)
        let engine = ActiveEngine(runner: runner, preprocess: PreprocessSpec(width: 640, height: 640),
                                  model: "no-op", digest: "-", backend: "none")
        let loop = FrameLoop(sources: [SyntheticSource(width: 1920, height: 1080, frameLimit: frames)],
                             slot: EngineSlot(engine),
                             configuration: .init(reportInterval: nil, pipelined: pipelined,
                                                  makePreprocessor: gpu ? PreprocessorChoice.automatic(gpu: true) : PreprocessorChoice.cpu))
        let before = CUDATransfers.snapshot
        let summary = try await loop.run()
        return Measurement(summary: summary, copies: CUDATransfers.snapshot.since(before))
    }

    static func run(_ args: [String]) async throws {
        let frames = Int(BenchSupport.option(args, "--frames") ?? "") ?? 300
        MemoryTuning.keepLargeBuffers()  // as kiln run does
        _ = try await measure(pipelined: true, frames: 20)  // warm-up
        let serial = try await measure(pipelined: false, frames: frames)
        let piped = try await measure(pipelined: true, frames: frames)
        var rows = [("serial", serial), ("pipelined", piped)]
        rows.append(("serial, 2 ms engine", try await measure(pipelined: false, frames: frames, engineSeconds: 0.002)))
        rows.append(("pipelined, 2 ms engine", try await measure(pipelined: true, frames: frames, engineSeconds: 0.002)))
        if args.contains("--gpu") {
            _ = try await measure(pipelined: true, frames: 20, gpu: true, engineMemory: .device)
            rows.append(("serial, GPU preprocess, device engine", try await measure(pipelined: false, frames: frames, gpu: true, engineMemory: .device)))
            rows.append(("pipelined, GPU preprocess, device engine", try await measure(pipelined: true, frames: frames, gpu: true, engineMemory: .device)))
            rows.append(("pipelined, GPU preprocess, host-only engine", try await measure(pipelined: true, frames: frames, gpu: true, engineMemory: .host)))
        }
        print("Frame loop, synthetic 1920x1080 RGB -> letterbox 640x640 float32, no-op engine, \(frames) frames, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        func row(_ name: String, _ m: Measurement) -> [String] {
            let s = m.summary, p = s.latencyMilliseconds
            let n = Double(max(s.frames, 1))
            return [name, String(format: "%.1f", s.fps), String(format: "%.2f", 1000 / max(s.fps, 1e-9)),
                    String(format: "%.2f", p["capture"]!.p50), String(format: "%.2f", p["preprocess"]!.p50),
                    String(format: "%.2f", p["end_to_end"]!.p50),
                    String(format: "%.2f", Double(m.copies.uploads) / n), String(format: "%.2f", Double(m.copies.downloads) / n)]
        }
        BenchSupport.table(["mode", "frames/s", "ms/frame", "capture p50", "preprocess p50", "end-to-end p50",
                            "H->D copies/frame", "D->H copies/frame"],
                           rows.map { row($0.0, $0.1) })
        print(String(format: "pipelined / serial throughput: %.2fx with a no-op engine, %.2fx with a 2 ms engine",
                     piped.fps / max(serial.fps, 1e-9), rows[3].1.fps / max(rows[2].1.fps, 1e-9)))
        if rows.count > 5 {
            print(String(format: "pipelined GPU / CPU preprocessing throughput: %.2fx (device engine), %.2fx (host-only engine)",
                         rows[5].1.fps / max(piped.fps, 1e-9), rows[6].1.fps / max(piped.fps, 1e-9)))
        }
    }
}
