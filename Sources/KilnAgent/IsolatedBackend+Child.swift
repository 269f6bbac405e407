import Foundation
import KilnCore
import KilnInference
import KilnTensorRT

extension IsolatedBackend {
    /// The child side (`kiln build-engine` given a request with a `backend`): builds the request's
    /// model with `backend` in this process, writes the engine atomically to its `enginePath`
    /// and reports the result as a protocol line; returns the exit code (0, or the error's:
    /// 3 for an invalid model, which the parent turns back into the same error).
    public static func buildInChild(_ request: EngineBuildRequest, backend: any InferenceBackend) -> Int32 {
        let start = MonotonicClock.now
        let name = request.modelName ?? request.modelPath
        // Relay the build's phases to the parent, whose /status and metrics show them.
        let relay = ProgressHub.shared.observe { event in
            let snapshot = event.snapshot
            guard snapshot.step == .build, let phase = snapshot.phase else { return }
            EngineBuildChild.emit(.progress(phase: phase, step: Int(snapshot.done),
                                                   steps: snapshot.total.map { Int($0) } ?? -1))
        }
        defer { ProgressHub.shared.removeObserver(relay) }
        do {
            guard let bytes = try AtomicFile.read(request.modelPath) else {
                throw RuntimeError("build child: the model \(request.modelPath) is gone")
            }
            let artifact = try backend.build(model: ModelSource(bytes: bytes, name: name), options: request.options)
            try AtomicFile.write(artifact.bytes, to: request.enginePath)
            EngineBuildChild.emit(.result(status: "ok", seconds: MonotonicClock.now - start))
            return 0
        } catch let error as any KilnError {
            EngineBuildChild.emit(.result(status: "failed", message: error.description,
                                                   seconds: MonotonicClock.now - start))
            return error.exitCode.rawValue
        } catch {
            EngineBuildChild.emit(.result(status: "failed", message: "\(name): \(error)",
                                                   seconds: MonotonicClock.now - start))
            return ExitCode.runtimeFailure.rawValue
        }
    }
}
