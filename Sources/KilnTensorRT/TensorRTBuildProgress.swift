import KilnCore

/// Turns a TensorRT build's events into progress: where the build is, as a phase number of a
/// count and a name for people.
///
/// On TensorRT ≥ 10 the bridge's progress monitor reports nested phases (`phaseStart` with its
/// step count, `stepComplete`, `phaseFinish`), which arrive as `progress` events (step 0 and
/// the count at a start, the step done at a step, −1 at a finish). The outermost phase gives
/// the number (`phase 3/6`), the innermost running one the name. TensorRT 8.x has no monitor:
/// its info log lines mark the milestones of a build (`fallbackPhases`), and elapsed time does
/// the rest.
public struct TensorRTBuildProgress: Sendable {
    /// Where the build is now.
    public struct Position: Sendable, Equatable {
        /// What runs now, for people (`Building engine › Timing graph 3/12`).
        public var name: String
        /// Phases done before the one running, in the outermost sequence.
        public var done: Int
        /// Phases in the outermost sequence, when known.
        public var total: Int?
    }

    /// The milestones of a TensorRT 8.x build, in order, with the info-log text that starts each.
    public static let fallbackPhases: [(name: String, markers: [String])] = [
        ("parsing the network", ["ONNX IR version", "Input filename", "Opset version"]),
        ("optimizing the graph", ["Original:", "After dead-layer removal", "Graph optimization", "After Myelin optimization"]),
        ("selecting tactics", ["timing cache", "Constructing optimization profile", "Autotuning", "Timing Runner"]),
        ("generating the engine", ["Total Host Persistent Memory", "Total Activation Memory", "Engine generation completed"]),
        ("serializing", ["Total Weights Memory", "Peak memory usage", "TensorRT-managed allocation in building engine"]),
    ]

    private struct Frame: Sendable {
        var name: String
        var steps: Int?
        var done: Int
    }
    private var stack: [Frame] = []
    /// Top-level phases finished so far (a monitor may report several in sequence).
    private var finishedTop = 0
    private var fallbackIndex = -1
    /// True once a monitor event arrived: log lines no longer move the position.
    public private(set) var hasMonitor = false

    /// Creates an interpreter for one build.
    public init() {}

    /// Takes one event of the build child; returns the new position when it moved.
    public mutating func consume(_ event: EngineBuildEvent) -> Position? {
        switch event.event {
        case "progress":
            guard let phase = event.phase, let step = event.step else { return nil }
            hasMonitor = true
            return monitor(phase: phase, step: step, steps: event.steps ?? -1)
        case "log":
            guard !hasMonitor, let message = event.message else { return nil }
            return logLine(message)
        default:
            return nil
        }
    }

    private mutating func monitor(phase: String, step: Int, steps: Int) -> Position? {
        if step == 0 {
            stack.append(Frame(name: phase, steps: steps > 0 ? steps : nil, done: 0))
        } else if step < 0 {
            // A finish: pop up to and including the phase (a monitor finishes inner phases first).
            guard let index = stack.lastIndex(where: { $0.name == phase }) else { return nil }
            stack.removeSubrange(index...)
            if index == 0 { finishedTop += 1 }
        } else {
            guard let index = stack.lastIndex(where: { $0.name == phase }) else { return nil }
            stack[index].done = step
            stack.removeSubrange((index + 1)...)
        }
        return position
    }

    private var position: Position? {
        guard let top = stack.first else { return nil }
        let inner = stack.dropFirst().map { f in f.steps.map { "\(f.name) \(f.done)/\($0)" } ?? f.name }
        let name = ([top.name] + inner).joined(separator: " › ")
        if let steps = top.steps { return Position(name: name, done: min(top.done, steps), total: steps) }
        return Position(name: name, done: finishedTop, total: nil)
    }

    private mutating func logLine(_ message: String) -> Position? {
        let phases = Self.fallbackPhases
        guard let index = phases.indices.last(where: { i in phases[i].markers.contains { message.contains($0) } }),
              index > fallbackIndex else { return nil }
        fallbackIndex = index
        return Position(name: phases[index].name, done: index, total: phases.count)
    }
}
