import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnRegistry
import KilnRollout

extension RolloutController.Hooks {
    /// The agent's hooks: the registry through `puller`, engines through `factory` (the same
    /// backend, profile and cache the loop uses), the gate through `GoldenVerifier` and timed
    /// runs, and the swap through the loop's `EngineSlot`. With `trialChild`, the candidate's
    /// first inferences (golden check and warm-up, then the timed runs) run in that isolated
    /// child (`EngineTrial`), so a candidate that crashes on its first frames is refused while
    /// the agent keeps serving.
    public static func live(reference: ModelReference, puller: ModelPuller, factory: EngineFactory, slot: EngineSlot,
                            latencyRuns: Int = 20, trialChild: IsolatedChild? = nil) -> RolloutController.Hooks {
        RolloutController.Hooks(
            currentDigest: { try await puller.currentDigest(of: reference) },
            inspect: { digest in try await puller.inspect(reference.pinned(to: digest)).annotations },
            pull: { digest in try await puller.pull(reference.pinned(to: digest)) },
            prepare: { model in
                let bytes = try await BlockingWork.run("kiln-read-model") { () throws -> [UInt8] in
                    guard let data = FileManager.default.contents(atPath: model.path) else {
                        throw RuntimeError("model \(model.reference): \(model.path) cannot be read")
                    }
                    return Array(data)
                }
                let source = ModelSource(bytes: bytes, name: model.reference)
                return try await factory.make(model: source, hint: model.annotations.preprocess, postprocess: model.annotations.postprocess,
                                              goldenData: model.goldenPath != nil).0
            },
            verifyGolden: { engine, model in
                if let trialChild {
                    let result = try await BlockingWork.run("kiln-trial") {
                        try EngineTrial.run(.golden, engine: engine, model: model, factory: factory, latencyRuns: latencyRuns, child: trialChild)
                    }
                    if let result { return result.goldenFailure }
                    Log.warning("rollout: the engine of \(model.reference) is not in the cache; its first inferences run in the agent")
                }
                guard let golden = model.goldenPath else { return nil }
                return try await BlockingWork.run("kiln-golden") {
                    try GoldenGate.check(engine: engine, goldenTar: golden, model: model)
                }
            },
            measureLatency: { engine, model in
                if let trialChild, let result = try await BlockingWork.run("kiln-trial", {
                    try EngineTrial.run(.latency, engine: engine, model: model, factory: factory, latencyRuns: latencyRuns, child: trialChild)
                }) {
                    return result.p99Milliseconds
                }
                return try await BlockingWork.run("kiln-latency") {
                    try GoldenGate.warmP99Milliseconds(engine: engine, goldenTar: model.goldenPath, runs: latencyRuns)
                }
            },
            swap: { engine in slot.swap(to: engine) },
            health: { generation in slot.health(generation: generation) })
    }
}

/// The on-device gate's checks, run on a dedicated thread against an engine not yet serving.
public enum GoldenGate {
    /// Runs the golden cases in `goldenTar` through `engine`; nil when all pass, else the reason.
    public static func check(engine: ActiveEngine, goldenTar: String, model: PulledModel) throws -> String? {
        let cases = try loadCases(goldenTar)
        // The artifact's own rtol/atol, else the accuracy gate's rule for the precision (as `kiln verify`).
        let verifier = model.annotations.goldenTolerance.map { GoldenVerifier(rtol: $0.rtol, atol: $0.atol) }
            ?? GoldenVerifier(precision: engine.precision)
        let results = try verifier.verify(runner: engine.runner, cases: cases)
        for result in results {
            for output in result.outputs where !output.passed {
                let detail = output.problem ?? String(format: "max abs error %.3g, max rel error %.3g", output.maxAbsoluteError, output.maxRelativeError)
                return "\(result.directory.lastPathComponent) output \(output.name): \(detail) (\(verifier.rule))"
            }
        }
        Log.info("rollout: golden data passed (\(cases.count) case(s), \(verifier.rule))")
        return nil
    }

    /// Times `runs` inferences (after 3 warm-up runs) on the golden inputs, or on zeros shaped
    /// like the engine's inputs, and returns the p99 in milliseconds.
    public static func warmP99Milliseconds(engine: ActiveEngine, goldenTar: String?, runs: Int) throws -> Double {
        var feeds: [String: Tensor] = [:]
        if let goldenTar, let first = try loadCases(goldenTar).first {
            for (k, t) in first.inputs.enumerated() where k < engine.runner.inputs.count { feeds[engine.runner.inputs[k].name] = t }
        }
        for input in engine.runner.inputs where feeds[input.name] == nil {
            var shape = input.shape.map { $0 ?? 1 }
            if input.name == engine.inputName, shape.count == 4 {
                shape[2] = input.shape[2] ?? engine.preprocess.height
                shape[3] = input.shape[3] ?? engine.preprocess.width
            }
            let count = shape.reduce(1, *)
            feeds[input.name] = Tensor(elementType: input.elementType, shape: shape,
                                       bytes: [UInt8](repeating: 0, count: count * max(1, input.elementType.byteWidth)))
        }
        for _ in 0..<3 { _ = try engine.runner.run(feeds) }
        var times: [Double] = []
        for _ in 0..<max(1, runs) {
            let t0 = MonotonicClock.now
            _ = try engine.runner.run(feeds)
            times.append((MonotonicClock.now - t0) * 1000)
        }
        return Percentile.nearestRank(99, of: times) ?? 0
    }

    static func loadCases(_ goldenTar: String) throws -> [GoldenVerifier.GoldenCase] {
        guard let data = FileManager.default.contents(atPath: goldenTar) else {
            throw RuntimeError("golden data \(goldenTar) cannot be read")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-golden-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TarArchive.extract(try TarArchive.read(Array(data), source: goldenTar), to: dir.path)
        return try GoldenVerifier.loadCases([dir])
    }
}
