import Foundation
import KilnCore
import KilnInference
import KilnRegistry

/// How the agent reaches models: registry credentials and TLS, and the local model store.
public struct RegistryAccess: Sendable {
    /// The registry client (credentials, insecure hosts, CA bundle).
    public var client: RegistryClient
    /// Where pulled artifacts are kept.
    public var store: ModelStore

    /// Creates access through `client` into `store` (defaults: no credentials, `KILN_STORE` or
    /// `~/.cache/kiln/models`).
    public init(client: RegistryClient = RegistryClient(), store: ModelStore = ModelStore(root: KilnDirectories().store)) {
        self.client = client
        self.store = store
    }

    /// A puller over this client and store.
    public var puller: ModelPuller { ModelPuller(store: store, client: client) }

    /// Reads a model from a file, or pulls it from a layout or registry; returns it with the
    /// artifact's annotations (nil for files).
    public func resolve(_ reference: ModelReference, text: String) async throws -> (ModelSource, KilnAnnotations?) {
        switch reference {
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RuntimeError("model \(path): cannot read the file; check the path and its permissions")
            }
            return (ModelSource(bytes: Array(data), name: path), nil)
        case .layout, .registry:
            let pulled = try await puller.pull(reference)
            guard let data = FileManager.default.contents(atPath: pulled.path) else {
                throw RuntimeError("model \(text): pulled to \(pulled.path) but it cannot be read")
            }
            return (ModelSource(bytes: Array(data), name: text), pulled.annotations)
        }
    }
}
