import KilnCore
@testable import KilnTensorRT
import Testing

/// The TensorRT build's progress from the child's events: the progress monitor's nested phases
/// (TensorRT >= 10) and the 8.x fallback on the info log's milestones.
@Suite struct TensorRTBuildProgressTests {
    static func progress(_ phase: String, _ step: Int, _ steps: Int = -1) -> EngineBuildEvent {
        EngineBuildEvent.progress(phase: phase, step: step, steps: steps)
    }

    static func log(_ message: String, severity: Int = 3) -> EngineBuildEvent {
        EngineBuildEvent.log(severity: severity, message)
    }

    /// The bridge's monitor as `kiln_trt.cpp` reports it: a start (step 0, the count), a step
    /// done (its number from 1, −1), a finish (−1, −1); inner phases nest inside an outer one.
    static let monitorSequence: [EngineBuildEvent] = [
        progress("Building engine", 0, 3),
        progress("Graph optimization", 0, 2),
        progress("Graph optimization", 1),
        progress("Graph optimization", 2),
        progress("Graph optimization", -1),
        progress("Building engine", 1),
        progress("Tactic selection", 0, 12),
        progress("Tactic selection", 5),
        log("Local timing cache in use. Profiling results in this builder pass will not be stored."),
        progress("Tactic selection", 12),
        progress("Tactic selection", -1),
        progress("Building engine", 2),
        progress("Engine serialization", 0, 0),
        progress("Engine serialization", -1),
        progress("Building engine", 3),
        progress("Building engine", -1),
    ]

    @Test func monitorPhasesGiveTheOuterNumberAndTheInnerName() {
        var interpreter = TensorRTBuildProgress()
        let positions = Self.monitorSequence.map { interpreter.consume($0) }
        #expect(positions[0] == .init(name: "Building engine", done: 0, total: 3))
        #expect(positions[1] == .init(name: "Building engine › Graph optimization 0/2", done: 0, total: 3))
        #expect(positions[3] == .init(name: "Building engine › Graph optimization 2/2", done: 0, total: 3))
        #expect(positions[4] == .init(name: "Building engine", done: 0, total: 3))
        #expect(positions[5] == .init(name: "Building engine", done: 1, total: 3))
        #expect(positions[7] == .init(name: "Building engine › Tactic selection 5/12", done: 1, total: 3))
        #expect(positions[8] == nil, "log lines do not move a build that has a monitor")
        #expect(positions[12] == .init(name: "Building engine › Engine serialization", done: 2, total: 3))
        #expect(positions[14] == .init(name: "Building engine", done: 3, total: 3))
        #expect(positions[15] == nil, "the outer phase finished: nothing runs")
        #expect(interpreter.hasMonitor)
        // The outer number never goes back.
        let numbers = positions.compactMap { $0?.done }
        #expect(zip(numbers, numbers.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test func monitorWithoutAStepCountStillCountsFinishedTopPhases() {
        var interpreter = TensorRTBuildProgress()
        let events = [
            Self.progress("Parsing", 0, -1), Self.progress("Parsing", -1),
            Self.progress("Optimizing", 0, -1), Self.progress("Optimizing", -1), Self.progress("Serializing", 0, -1),
        ]
        let positions = events.map { interpreter.consume($0) }
        #expect(positions[0] == .init(name: "Parsing", done: 0, total: nil))
        #expect(positions[2] == .init(name: "Optimizing", done: 1, total: nil))
        #expect(positions[4] == .init(name: "Serializing", done: 2, total: nil))
        #expect(interpreter.consume(Self.progress("Unknown phase", 3)) == nil, "a step of a phase never started is ignored")
    }

    /// A TensorRT 8.6 build's info lines (no monitor): milestones move the phase forward only.
    static let tensorRT8Log: [String] = [
        "[MemUsageChange] Init CUDA: CPU +1, GPU +0, now: CPU 18, GPU 1020 (MiB)",
        "----------------------------------------------------------------",
        "Input filename:   /tmp/kiln-trt/model.onnx",
        "ONNX IR version:  0.0.8",
        "Opset version:    17",
        "Graph optimization time: 0.0123 seconds.",
        "Local timing cache in use. Profiling results in this builder pass will not be stored.",
        "Detected 1 inputs and 1 output network tensors.",
        "Total Host Persistent Memory: 1200",
        "Total Activation Memory: 4202496",
        "Engine generation completed in 212.4 seconds.",
        "Opset version:    17",
        "[MemUsageStats] Peak memory usage of TRT CPU/GPU memory allocators: CPU 1 MiB, GPU 36 MiB",
        "[MemUsageChange] TensorRT-managed allocation in building engine: CPU +0, GPU +4, now: CPU 0, GPU 4 (MiB)",
    ]

    @Test func tensorRT8FallbackFollowsTheLogMilestonesForwardOnly() {
        var interpreter = TensorRTBuildProgress()
        let positions = Self.tensorRT8Log.map { interpreter.consume(Self.log($0)) }.compactMap { $0 }
        #expect(positions.map(\.name) == ["parsing the network", "optimizing the graph", "selecting tactics", "generating the engine",
                                          "serializing"], "\(positions)")
        #expect(positions.map(\.done) == [0, 1, 2, 3, 4])
        #expect(positions.allSatisfy { $0.total == TensorRTBuildProgress.fallbackPhases.count })
        #expect(!interpreter.hasMonitor)
        #expect(interpreter.consume(EngineBuildEvent.result(status: "ok")) == nil)
    }

    @Test func buildProgressReachesTheHubAsPhasesOfTheBuildStep() {
        let hub = ProgressHub()
        let tracker = hub.begin(.build, subject: "yolo11n.onnx", unit: .phases, backend: "tensorrt")
        var interpreter = TensorRTBuildProgress()
        var seen: [String] = []
        for event in Self.monitorSequence {
            if let p = interpreter.consume(event) {
                tracker.enterPhase(p.name, index: p.done + 1, count: p.total)
                seen.append(tracker.snapshot.statusLine)
            }
        }
        #expect(seen.contains { $0.hasPrefix("building engine: phase 2/3, Building engine › Tactic selection 5/12, ") }, "\(seen)")
        tracker.finish()
        #expect(hub.active.isEmpty)
    }
}
