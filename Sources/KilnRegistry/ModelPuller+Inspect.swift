import Foundation

extension ModelPuller {
    /// The digest a reference points at and the artifact's Kiln annotations, from the manifest
    /// alone (no weights downloaded): what a rollout needs to decide whether to take part.
    public func inspect(_ reference: ModelReference) async throws -> (digest: Digest, annotations: KilnAnnotations) {
        let source = reference.description
        let topBytes: [UInt8]
        let mediaType: String?
        let child: @Sendable (Digest) async throws -> [UInt8]
        switch reference {
        case .file(let path):
            return (try FileDigest.of(path: path).digest, KilnAnnotations())
        case .layout(let path, let tag, let digest):
            let layout = OCILayout(root: path)
            let d = try digest ?? layout.descriptor(tag: tag ?? "latest").digest
            topBytes = try layout.readBlob(d, limit: 4 << 20)
            mediaType = nil
            child = { try layout.readBlob($0, limit: 4 << 20) }
        case .registry(let r):
            (topBytes, mediaType) = try await client.manifest(r)
            let client = self.client
            child = { try await client.manifest(r.with(tag: nil, digest: $0)).bytes }
        }
        var document = try ManifestDocument.parse(topBytes, mediaType: mediaType, source: source)
        if case .index(let index) = document, let entry = index.entryForThisMachine() {
            let bytes = try await child(entry.digest)
            guard Digest.of(bytes) == entry.digest else {
                throw RegistryError(.digestMismatch, "manifest \(entry.digest) of \(source) is corrupt; refused")
            }
            document = try ManifestDocument.parse(bytes, mediaType: entry.mediaType, source: source)
        }
        guard case .manifest(let manifest) = document else {
            throw RegistryError(.invalidArtifact, "index \(source) has no manifest for this machine's platform")
        }
        return (Digest.of(topBytes), try ModelArtifact(manifest: manifest, source: source).annotations)
    }
}

extension ModelReference {
    /// The same source pinned to `digest` (a plain file stays as it is).
    public func pinned(to digest: Digest) -> ModelReference {
        switch self {
        case .file: self
        case .layout(let path, _, _): .layout(path: path, tag: nil, digest: digest)
        case .registry(let r): .registry(r.with(tag: nil, digest: digest))
        }
    }
}
