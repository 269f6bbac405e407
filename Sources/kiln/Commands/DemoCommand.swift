import Foundation
import KilnAgent
import KilnCore
import KilnInference

/// `kiln demo`: the main job on the embedded default — no registry, GPU or camera needed.
struct DemoCommand: Command {
    static let name = "demo"
    static let summary = "Run Kiln's own demo model on synthetic frames (builds and caches its engine)"
    static let help = """
        Usage: kiln demo [options]

        Kiln writes its own small ONNX model (a fixed convolutional net that finds which quadrant
        of the frame holds the synthetic source's moving bright square), builds an engine for it
        with the reference backend (or --backend), caches it, and runs it on synthetic 1280x720
        frames for 5 seconds. Run it twice: the second run is a cache hit and starts faster.

        \(RunOptions.help)
        \(DeviceContext.flagHelp)
        """

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        var options = try RunOptions(&arguments)
        let device = try DeviceContext.resolve(&arguments)
        try arguments.finish()
        MemoryTuning.keepLargeBuffers()
        if options.duration == nil && options.frames == nil { options.duration = 5 }
        if options.backend == "auto" { options.backend = "reference" }
        let agent = Agent(configuration: try options.agentConfiguration(
            model: .source(ModelSource(bytes: DemoModel.bytes(), name: "kiln-demo")), device: device,
            defaultPostprocess: "topk:1", defaultLabels: DemoModel.labels))
        let report = try await agent.run()
        options.printProfile()
        try RunCommand.print(report, json: options.json)
        return .ok
    }
}
