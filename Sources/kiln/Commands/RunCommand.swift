import Foundation
import KilnAgent
import KilnCore
import KilnInference
import KilnRegistry

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

        Examples:
          kiln run model.onnx --duration 10s
          kiln run registry.local:5000/models/detector:prod --source synthetic:1920x1080@30 --json
        """

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        let text = try arguments.required("MODEL")
        let options = try RunOptions(&arguments)
        let device = try DeviceContext.resolve(&arguments)
        let registry = try RegistryOptions(&arguments)
        let follow = try FollowOptions(&arguments)
        try arguments.finish()
        MemoryTuning.keepLargeBuffers()
        let reference = try ModelReference(parsing: text)
        let rollout: FollowRollout?
        let model: ModelSource, hint: String?
        if follow.enabled {
            let (source, r) = try await follow.start(reference, registry: registry)
            (model, hint, rollout) = (source, r.serving.annotations.preprocess, r)
        } else {
            rollout = nil
            (model, hint) = try await resolve(reference, text: text, registry: registry)
        }
        let sources = try options.makeSources()
        let telemetry = options.makeTelemetry()
        let factory = try options.makeFactory(device: device, streams: sources.count)
        var session = RunSession(factory: factory, model: model,
                                 preprocessHint: hint, sources: sources, loop: options.loopConfiguration,
                                 profile: device.detection.profile.name,
                                 background: { [rollout] slot, _ in rollout?.services(slot: slot, factory: factory, telemetry: telemetry) ?? [] },
                                 onReload: { [rollout] in rollout?.trigger() },
                                 onReady: RunOptions.engineReady(telemetry, profile: device.detection.profile.name), telemetry: telemetry)
        session.rolloutStatus = { [rollout] in rollout?.snapshot() }
        let report = try await session.run()
        try RunCommand.print(report, json: options.json)
        return .ok
    }

    /// Reads a model from a file or pulls it from a layout or registry.
    static func resolve(_ reference: ModelReference, text: String, registry: RegistryOptions) async throws -> (ModelSource, String?) {
        switch reference {
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RuntimeError("model \(path): cannot read the file; check the path and its permissions")
            }
            return (ModelSource(bytes: Array(data), name: path), nil)
        case .layout, .registry:
            let pulled = try await ModelPuller(store: registry.store, client: registry.client).pull(reference)
            guard let data = FileManager.default.contents(atPath: pulled.path) else {
                throw RuntimeError("model \(text): pulled to \(pulled.path) but it cannot be read")
            }
            return (ModelSource(bytes: Array(data), name: text), pulled.annotations.preprocess)
        }
    }

    /// Prints the report: text, or text on stderr and one JSON line on stdout.
    static func print(_ report: RunReport, json: Bool) throws {
        if json {
            FileHandle.standardError.write(Data((report.text + "\n").utf8))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            Swift.print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            Swift.print(report.text)
        }
    }
}
