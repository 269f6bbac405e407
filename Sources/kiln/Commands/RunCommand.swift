import Foundation
import KilnAgent
import KilnCore
import KilnService

/// `kiln run MODEL`: build or load the engine for this device and serve frames through it.
struct RunCommand: Command {
    static let name = "run"
    static let summary = "Serve a model on frames: resolve, build or load the engine (cached), run the loop"
    static let help = """
        Usage: kiln run MODEL [options]

        MODEL: a .onnx file, oci:PATH:TAG, oci:PATH@sha256:…, HOST[:PORT]/REPO:TAG or …@sha256:….
        Resolves the model, looks its engine up in the cache (key: model digest, backend identity,
        build options) or builds it, loads it, and runs source → preprocess → infer → postprocess
        → statistics until the source ends, the limit is reached, or SIGINT/SIGTERM (which drain
        and print the summary). Per-stage latency p50/p90/p99, FPS and drops are reported every
        few seconds on stderr and at the end on stdout.

        \(RunOptions.help)
        \(DeviceContext.flagHelp)
        \(FollowOptions.help)
        \(RegistryOptions.help)

          --config FILE          read settings from FILE (kiln.conf: `key = value`, keys are the
                                 long flags above, `model` the MODEL); the command line overrides
                                 them; SIGHUP re-reads it (a changed model is served without a
                                 restart; other changes are reported and need one)

        Examples:
          kiln run model.onnx --duration 10s
          kiln run registry.local:5000/models/detector:prod --source synthetic:1920x1080@30 --json
        """

    /// Flags that take no value, as they may appear in the configuration file (`json = yes`).
    static let booleanKeys: Set<String> = ["json", "serial", "cpu-preprocess", "agnostic-nms", "profile-ops"]

    /// Reads `--config FILE` (kiln.conf: `key = value`, keys are this command's long flags, `model`
    /// the MODEL argument) and puts its settings before the command line's, which override them.
    /// Returns the file's path and its `model`, if it names one.
    static func applyConfiguration(_ arguments: inout Arguments) throws -> (path: String, model: String?)? {
        guard let path = try arguments.option("--config") else { return nil }
        let config = try KilnConfiguration.load(path: path)
        var expanded: [String] = []
        for entry in config.entries {
            if entry.key == "model" {
                continue
            } else if booleanKeys.contains(entry.key) {
                guard ["yes", "true", "1", "no", "false", "0"].contains(entry.value) else {
                    throw UsageError("\(path):\(entry.line): \(entry.key) = \(entry.value): expected yes or no")
                }
                if ["yes", "true", "1"].contains(entry.value) { expanded.append("--\(entry.key)") }
            } else {
                expanded += ["--\(entry.key)", entry.value]
            }
        }
        arguments.prepend(expanded)
        return (path, config["model"])
    }

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        let config = try applyConfiguration(&arguments)
        let options = try RunOptions(&arguments)
        let device = try DeviceContext.resolve(&arguments)
        let registry = try RegistryOptions(&arguments)
        let follow = try FollowOptions(&arguments)
        // MODEL is taken once every flag has consumed its value.
        guard let text = arguments.positional() ?? config?.model else {
            throw UsageError("kiln run: missing MODEL (or `model =` in the --config file); see `kiln help run`")
        }
        try arguments.finish()
        MemoryTuning.keepLargeBuffers()
        let agent = Agent(configuration: try options.agentConfiguration(
            model: .reference(text), device: device, registry: registry.access, follow: follow.follow,
            configurationFile: config?.path))
        let report = try await agent.run()
        options.printProfile()
        try RunCommand.print(report, json: options.json)
        return .ok
    }

    /// Prints the report: text, or text on stderr and one JSON line on stdout.
    static func print(_ report: RunReport, json: Bool) throws {
        if json {
            Log.output(report.text, standardError: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            Log.output(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            Log.output(report.text)
        }
    }
}
