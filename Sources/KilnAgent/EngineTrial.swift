import Foundation
import KilnCore
import KilnInference
import KilnRegistry
import KilnTensorRT
import KilnVideo

/// A rollout candidate's first inferences (the gate's golden check and warm-up, or its timed
/// latency runs) in an isolated child (`kiln build-engine --trial FILE`): the child loads the
/// engine the agent just built from the cache by its key, runs it and writes the answer to a
/// result file. A candidate that crashes, exhausts its memory limit or hangs on its first
/// frames ends the child and is refused; the agent keeps serving the old model.
public struct EngineTrial: Sendable, Codable {
    /// What the trial checks.
    public enum Mode: String, Sendable, Codable {
        /// Golden data (when the artifact has some), then warm-up runs.
        case golden
        /// Warm-up, then `latencyRuns` timed runs.
        case latency
    }

    /// What the child answers.
    public struct Result: Sendable, Codable, Equatable {
        /// Why golden data failed; nil when it passed or there was none.
        public var goldenFailure: String?
        /// The warm p99 latency in milliseconds.
        public var p99Milliseconds: Double
    }

    /// The check to run.
    public var mode: Mode
    /// The pulled candidate (golden data path and tolerances).
    public var model: PulledModel
    /// The engine cache's directory.
    public var cacheDirectory: String
    /// The candidate engine's cache key (hex).
    public var engineKey: String
    /// The backend that loads it.
    public var backend: String
    /// The options it was built with (threads, DLA core).
    public var options: BuildOptions
    /// The engine's image input.
    public var inputName: String
    /// The preprocessing (input size for zero-filled feeds).
    public var preprocess: PreprocessSpec
    /// The engine's precision (the default golden tolerance).
    public var precision: Precision
    /// Timed runs in `latency` mode.
    public var latencyRuns: Int
    /// Where the child writes its `Result` as JSON.
    public var resultPath: String

    /// The trial of `engine` (built through `factory`) for `model`.
    public init(mode: Mode, model: PulledModel, engine: ActiveEngine, engineKey: String, factory: EngineFactory, latencyRuns: Int,
                resultPath: String) {
        self.mode = mode
        self.model = model
        self.cacheDirectory = factory.preparer.cache.directory
        self.engineKey = engineKey
        self.backend = engine.backend
        self.options = factory.options
        self.inputName = engine.inputName
        self.preprocess = engine.preprocess
        self.precision = engine.precision
        self.latencyRuns = latencyRuns
        self.resultPath = resultPath
    }

    /// Runs `mode` for `engine` in `child`; nil when the engine is not in the cache (it could not
    /// be stored: the caller then runs the checks in process). Throws the child's failure.
    public static func run(_ mode: Mode, engine: ActiveEngine, model: PulledModel, factory: EngineFactory, latencyRuns: Int,
                           child: IsolatedChild) throws -> Result? {
        guard let key = engine.engineKey,
              case .hit = try factory.preparer.cache.read(digest: key) else { return nil }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-trial-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let trial = EngineTrial(mode: mode, model: model, engine: engine, engineKey: key, factory: factory, latencyRuns: latencyRuns,
                                resultPath: work.appendingPathComponent("result.json").path)
        let requestPath = work.appendingPathComponent("trial.json").path
        try AtomicFile.write(Array(try JSONEncoder().encode(trial)), to: requestPath)
        let outcome = try child.run(["--trial", requestPath])
        guard outcome.succeeded, let bytes = try AtomicFile.read(trial.resultPath) else {
            // Whatever failed on the candidate's first frames (a crash, an error its engine raised)
            // is the candidate's fault: an invalid model, which the rollout refuses.
            throw InvalidModelError(outcome.error(subject: "the first inferences of \(model.reference) (\(mode.rawValue) check)",
                                                  limits: child.limits).description)
        }
        return try JSONDecoder().decode(Result.self, from: Data(bytes))
    }

    /// The child side: loads the engine with `backend`, runs the check, writes the result and
    /// reports it as a protocol line; returns the exit code.
    public func runInChild(backend: any InferenceBackend) -> Int32 {
        do {
            let cache = EngineCache(directory: cacheDirectory)
            guard case .hit(let artifact, _) = try cache.read(digest: engineKey) else {
                throw RuntimeError("trial child: engine \(engineKey) is not in the cache at \(cacheDirectory)")
            }
            let runner = try backend.load(artifact, options: options)
            let engine = ActiveEngine(runner: runner, preprocess: preprocess, inputName: inputName, model: model.reference,
                                      digest: model.modelDigest.description, backend: backend.name, precision: precision, engineKey: engineKey)
            var result = Result(goldenFailure: nil, p99Milliseconds: 0)
            switch mode {
            case .golden:
                if let golden = model.goldenPath { result.goldenFailure = try GoldenGate.check(engine: engine, goldenTar: golden, model: model) }
                result.p99Milliseconds = try GoldenGate.warmP99Milliseconds(engine: engine, goldenTar: model.goldenPath, runs: 1)
            case .latency:
                result.p99Milliseconds = try GoldenGate.warmP99Milliseconds(engine: engine, goldenTar: model.goldenPath, runs: latencyRuns)
            }
            try AtomicFile.write(Array(try JSONEncoder().encode(result)), to: resultPath)
            EngineBuildChild.emit(.result(status: "ok"))
            return 0
        } catch let error as any KilnError {
            EngineBuildChild.emit(.result(status: "failed", message: error.description))
            return error.exitCode.rawValue
        } catch {
            EngineBuildChild.emit(.result(status: "failed", message: "\(model.reference): \(error)"))
            return ExitCode.runtimeFailure.rawValue
        }
    }
}
