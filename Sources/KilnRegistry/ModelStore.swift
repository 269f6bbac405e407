import Foundation
import KilnCore

/// A model fetched into the local store (or a plain ONNX file used in place).
public struct PulledModel: Sendable, Codable, Equatable {
    /// The reference it was pulled by.
    public var reference: String
    /// The digest the reference resolved to (the manifest or index digest; for a plain file,
    /// the file's sha256): what rollouts compare and remember.
    public var digest: Digest
    /// The local ONNX file.
    public var path: String
    /// The ONNX file's own digest (the engine cache key's model half).
    public var modelDigest: Digest
    /// The ONNX file's size in bytes.
    public var modelSize: Int64
    /// The golden-data tar in the store, if the artifact has one.
    public var goldenPath: String?
    /// Kiln's annotations.
    public var annotations: KilnAnnotations

    enum CodingKeys: String, CodingKey {
        case reference, digest, path
        case modelDigest = "model_digest"
        case modelSize = "model_size"
        case goldenPath = "golden"
        case annotations
    }
}

/// The local model store: an OCI image layout (by default `$XDG_CACHE_HOME/kiln/models`) that
/// pulls land in, with partial downloads kept beside their blobs for resuming.
public struct ModelStore: Sendable {
    /// The store's OCI layout.
    public let layout: OCILayout

    /// A store rooted at `root`.
    public init(root: String) { layout = OCILayout(root: root) }

    /// Where a partial download of `digest` is kept.
    public func partialPath(_ digest: Digest) -> String { layout.blobPath(digest) + ".partial" }

    /// The reference's entry in the store's index, if it was pulled before.
    public func lookup(_ reference: String) throws -> OCIDescriptor? {
        try layout.index().manifests.last { $0.annotations?[AnnotationKeys.refName] == reference }
    }

    /// Every reference the store holds, with its digest.
    public func list() throws -> [(reference: String, digest: Digest)] {
        try layout.index().manifests.compactMap { d in d.annotations?[AnnotationKeys.refName].map { ($0, d.digest) } }
    }
}
