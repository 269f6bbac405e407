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
}
