import KilnCore
import KilnInference
import KilnReference
import KilnTensorRT

/// The inference backends this build of Kiln has, and the choice `--backend` makes among them.
public struct BackendCatalog: Sendable {
    /// Every backend, in preference order for `auto` (TensorRT first, the reference backend last).
    public var backends: [any InferenceBackend]

    /// Creates a catalog of `backends`.
    public init(_ backends: [any InferenceBackend]) { self.backends = backends }

    /// The backend named `name`, or for `auto` the first available one.
    ///
    /// Throws a usage error for an unknown name and a runtime error, with the backend's own
    /// reason, for a named backend that is unavailable here.
    public func select(_ name: String) throws -> any InferenceBackend {
        if name == "auto" {
            if let b = backends.first(where: { $0.availability() == .available }) { return b }
            throw RuntimeError("no inference backend is available: " + reasons())
        }
        guard let backend = backends.first(where: { $0.name == name }) else {
            throw UsageError("--backend \(name): unknown backend; choose one of auto, \(backends.map(\.name).joined(separator: ", "))")
        }
        if case .unavailable(let reason) = backend.availability() {
            throw RuntimeError("--backend \(name): unavailable here: \(reason); run `kiln doctor`, or use --backend auto")
        }
        return backend
    }

    /// Each backend with why it is unavailable, for messages.
    public func reasons() -> String {
        backends.map { b in
            if case .unavailable(let r) = b.availability() { return "\(b.name): \(r)" }
            return "\(b.name): available"
        }.joined(separator: "; ")
    }
}

extension BackendCatalog {
    /// Every backend compiled into Kiln, TensorRT first; TensorRT builds run `engineBuildChild`.
    public static func standard(engineBuildChild: EngineBuildChildCommand) -> BackendCatalog {
        BackendCatalog([TensorRTBackend(builder: IsolatedBuilder(child: engineBuildChild)), ReferenceBackend()])
    }
}
