/// Who built an engine: the backend and every version that makes its engines valid.
///
/// TensorRT: `tensorrt`, `cuda`, `sm`, `device`. Reference backend: `version`, `cpu` (instruction
/// set). Two identities that differ in any field produce incompatible engines.
public struct BackendIdentity: Sendable, Codable, Equatable, Hashable, CustomStringConvertible {
    /// The backend's name: `reference`, `tensorrt`.
    public var backend: String
    /// The fields that bind an engine to this backend build and this device.
    public var fields: [String: String]

    /// Creates an identity.
    public init(backend: String, fields: [String: String]) {
        self.backend = backend
        self.fields = fields
    }

    /// A stable one-line rendering: `tensorrt cuda=13.0 sm=90 …` with keys sorted.
    public var description: String {
        ([backend] + fields.keys.sorted().map { "\($0)=\(fields[$0]!)" }).joined(separator: " ")
    }
}

/// A built engine: opaque, cacheable bytes plus what produced them.
public struct EngineArtifact: Sendable {
    /// The serialized engine (TensorRT plan, or the reference backend's engine file).
    public var bytes: [UInt8]
    /// The identity of the backend that built it.
    public var identity: BackendIdentity
    /// The workspace the successful build used, in bytes.
    public var workspaceBytes: Int
    /// Seconds the build took.
    public var buildSeconds: Double

    /// Creates an artifact.
    public init(bytes: [UInt8], identity: BackendIdentity, workspaceBytes: Int = 0, buildSeconds: Double = 0) {
        self.bytes = bytes
        self.identity = identity
        self.workspaceBytes = workspaceBytes
        self.buildSeconds = buildSeconds
    }
}
