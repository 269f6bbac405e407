import Foundation
import KilnCore
import KilnInference
import KilnTensorRT

/// A backend whose builds run in an isolated child (`kiln build-engine` with a `backend`
/// request), like TensorRT's: the model is hostile input, and a build that aborts, segfaults,
/// exhausts its memory limit or hangs ends the child, never the agent or the model it serves.
///
/// Loading the built engine (the backend's own verified format) stays in this process; the
/// candidate's first inferences run isolated too (`EngineTrial`).
public struct IsolatedBackend: InferenceBackend {
    /// The backend that builds in the child and loads here.
    public var inner: any InferenceBackend
    /// The child and its bounds.
    public var child: IsolatedChild

    /// Wraps `inner`; its builds run `child`.
    public init(inner: any InferenceBackend, child: IsolatedChild) {
        self.inner = inner
        self.child = child
    }

    public var name: String { inner.name }
    public func availability() -> BackendAvailability { inner.availability() }
    public func identity() throws -> BackendIdentity { try inner.identity() }
    public func load(_ artifact: EngineArtifact, options: BuildOptions) throws -> any InferenceRunner {
        try inner.load(artifact, options: options)
    }

    public func build(model: ModelSource, options: BuildOptions) throws -> EngineArtifact {
        let identity = try inner.identity()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-isolated-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let modelPath = work.appendingPathComponent("model.onnx").path
        let enginePath = work.appendingPathComponent("model.engine").path
        try AtomicFile.write(model.bytes, to: modelPath)
        var request = EngineBuildRequest(modelPath: modelPath, enginePath: enginePath, options: options)
        request.backend = inner.name
        request.modelName = model.name
        let requestPath = work.appendingPathComponent("request.json").path
        try AtomicFile.write(Array(try JSONEncoder().encode(request)), to: requestPath)
        let start = MonotonicClock.now
        // The child's build phases (its ProgressHub, relayed as progress lines) feed this process's.
        let progress = ProgressHub.shared.begin(.build, subject: model.name, unit: .phases, backend: name)
        var built = false
        defer { progress.finish(built ? .succeeded : .failed) }
        let outcome = try child.run(["--request", requestPath, "--workspace", String(max(1 << 20, options.workspaceBytes))]) { event in
            if event.event == "log", let message = event.message { Log.debug("build child (\(model.name)): \(message)") }
            if event.event == "progress", let phase = event.phase, let done = event.step {
                progress.enterPhase(phase, index: done + 1, count: (event.steps ?? -1) > 0 ? event.steps : nil)
            }
        }
        built = outcome.succeeded
        guard outcome.succeeded else {
            throw outcome.error(subject: "the \(inner.name) engine build of \(model.name)", limits: child.limits)
        }
        guard let bytes = try AtomicFile.read(enginePath), !bytes.isEmpty else {
            throw RuntimeError("the \(inner.name) build child reported success for \(model.name) but wrote no engine at \(enginePath)")
        }
        return EngineArtifact(bytes: bytes, identity: identity, workspaceBytes: 0, buildSeconds: MonotonicClock.now - start)
    }
}
