import KilnCore

/// A model to build: its bytes, content digest and a display name.
public struct ModelSource: Sendable {
    /// The ONNX file's bytes.
    public var bytes: [UInt8]
    /// `sha256:<hex>` of `bytes`: the model half of the engine cache key.
    public var digest: String
    /// A name for messages (the file path or registry reference).
    public var name: String

    /// Creates a model source; the digest is computed from `bytes`.
    public init(bytes: [UInt8], name: String) {
        self.bytes = bytes
        self.digest = "sha256:" + SHA256.hex(bytes)
        self.name = name
    }
}

/// Whether a backend can run here, and if not, why (shown by `kiln doctor`).
public enum BackendAvailability: Sendable, Equatable {
    /// Ready to build and run.
    case available
    /// Not usable here; the reason names what is missing (e.g. "libnvinfer.so.10 not found").
    case unavailable(reason: String)
}

/// An inference backend with TensorRT's two phases: an expensive, cacheable build and a cheap load.
///
/// `build` turns a model into engine bytes bound to `identity()`; `load` turns those bytes into a
/// runner. Both may block for a long time and must be called off the cooperative thread pool.
public protocol InferenceBackend: Sendable {
    /// The backend's name as used by `--backend` and in cache keys (`reference`, `tensorrt`).
    var name: String { get }
    /// Whether the backend can be used on this machine.
    func availability() -> BackendAvailability
    /// The identity engines built here are bound to; part of every cache key.
    func identity() throws -> BackendIdentity
    /// Builds an engine from an ONNX model.
    func build(model: ModelSource, options: BuildOptions) throws -> EngineArtifact
    /// Loads an engine built by this backend; refuses engines whose identity does not match.
    func load(_ artifact: EngineArtifact, options: BuildOptions) throws -> any InferenceRunner
}

/// A loaded engine that runs inference on named tensors.
///
/// A runner is used from one thread at a time (the loop's inference thread).
public protocol InferenceRunner: AnyObject, Sendable {
    /// The engine's inputs, with dynamic axes as `nil`.
    var inputs: [TensorDescriptor] { get }
    /// The engine's outputs.
    var outputs: [TensorDescriptor] { get }
    /// Runs one inference; `inputs` maps input names to tensors of matching shape.
    func run(_ inputs: [String: Tensor]) throws -> [String: Tensor]
    /// The memory the runner reads inputs from without a copy: `.device` for a GPU runner that
    /// binds device tensors directly, `.host` (the default) for one that needs host bytes.
    var inputMemory: TensorMemory { get }
    /// Runs one inference on inputs in host or device memory. The default downloads each device
    /// input exactly once and calls `run(_:)`; device-capable runners bind device inputs in place.
    func run(values: [String: TensorValue]) throws -> [String: Tensor]
}

extension InferenceRunner {
    /// Host memory: the runner reads `Tensor.bytes`.
    public var inputMemory: TensorMemory { .host }

    /// Downloads each device input once, then runs on host tensors.
    public func run(values: [String: TensorValue]) throws -> [String: Tensor] {
        try run(values.mapValues { try $0.hostTensor() })
    }
}
