import Foundation
import KilnAgent
import KilnCore
import KilnInference
import KilnRegistry
import KilnTelemetry

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
    static let booleanKeys: Set<String> = ["json", "serial", "cpu-preprocess", "agnostic-nms"]

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
        let reference = try ModelReference(parsing: text)
        let sources = try options.makeSources()
        let factory = try options.makeFactory(device: device, streams: sources.count, sourceSize: sources.first?.frameSize)
        let rollout: FollowRollout?
        let model: ModelSource, hint: String?
        if follow.enabled {
            let (source, r) = try await follow.start(reference, registry: registry, factory: factory,
                                                     buildWhileServing: device.detection.profile.buildWhileServing)
            (model, hint, rollout) = (source, r.serving.annotations.preprocess, r)
        } else {
            rollout = nil
            (model, hint) = try await resolve(reference, text: text, registry: registry)
        }
        let telemetry = try options.makeTelemetry()
        if let rollout {
            // The local API's "poll now": POST /rollout/poll on --metrics-addr.
            telemetry.addAction(path: "/rollout/poll") {
                rollout.trigger()
                return "polling \(text) now\n"
            }
        }
        let reloads = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let serving = ServingModel(text: text)
        var session = RunSession(
            factory: factory, model: model, preprocessHint: hint, sources: sources,
            postprocessor: try options.makePostprocessor(), loop: options.loopConfiguration,
            profile: device.detection.profile.name,
            background: { [rollout] slot, _ in
                var services = rollout?.services(slot: slot, factory: factory, telemetry: telemetry) ?? []
                guard let config else { return services }
                services.append(ClosureService("configuration reload") {
                    for await _ in reloads.stream {
                        await reload(config.path, serving: serving, slot: slot, factory: factory, registry: registry, telemetry: telemetry)
                    }
                })
                return services
            },
            onReload: { [rollout] in
                reloads.continuation.yield()
                rollout?.trigger()
            },
            onReady: RunOptions.engineReady(telemetry, profile: device.detection.profile.name), telemetry: telemetry)
        session.rolloutStatus = { [rollout] in rollout?.snapshot() }
        let report = try await session.run()
        try RunCommand.print(report, json: options.json)
        return .ok
    }

    /// The model reference being served, as the configuration file names it.
    final class ServingModel: @unchecked Sendable {
        private let lock = NSLock()
        private var value: String
        init(text: String) { value = text }
        var text: String {
            get { lock.withLock { value } }
            set { lock.withLock { value = newValue } }
        }
    }

    /// SIGHUP: re-reads the configuration; a changed `model` is resolved, built and swapped in
    /// between two frames (the old engine serves until then, and keeps serving if anything fails).
    static func reload(_ path: String, serving: ServingModel, slot: EngineSlot, factory: EngineFactory,
                       registry: RegistryOptions, telemetry: AgentTelemetry) async {
        try? telemetry.notifier.reloading()
        defer { try? telemetry.notifier.ready(status: "serving \(slot.current.engine.model)") }
        do {
            let config = try KilnConfiguration.load(path: path)
            guard let text = config["model"], text != serving.text else {
                Log.notice("reloaded \(path): model unchanged; changes to sources, metrics or build flags take effect on restart")
                return
            }
            let (model, hint) = try await resolve(try ModelReference(parsing: text), text: text, registry: registry)
            let (engine, prepared) = try await factory.make(model: model, hint: hint)
            slot.swap(to: engine)
            serving.text = text
            telemetry.metrics.setModel(name: engine.model, digest: engine.digest, backend: engine.backend,
                                       precision: engine.precision.rawValue)
            telemetry.metrics.recordCacheLookup(hit: prepared.outcome == .hit)
            Log.notice("reloaded \(path): now serving \(text) (\(model.digest.prefix(19))…), engine \(prepared.outcome)")
        } catch {
            Log.error("reload of \(path) failed, still serving \(serving.text): \(error)")
        }
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
