import Foundation
import KilnCore

/// Writes a model artifact to an OCI image layout or pushes it to a registry.
public struct ModelPublisher: Sendable {
    /// The registry client for `HOST/REPO:TAG` destinations.
    public let client: RegistryClient

    /// Creates a publisher.
    public init(client: RegistryClient) { self.client = client }

    /// Publishes `artifact` under `reference` (which must name a tag); returns the manifest digest.
    ///
    /// Registry: blobs the repository lacks are uploaded (monolithic up to the client's chunk
    /// size, chunked above), then the manifest is PUT under the tag. Layout: blobs are copied
    /// in and verified, then `index.json` is updated atomically.
    public func publish(_ artifact: ModelArtifactBuilder, to reference: ModelReference) async throws -> Digest {
        let descriptor = OCIDescriptor(mediaType: MediaTypes.ociManifest, digest: artifact.manifestDigest,
                                       size: Int64(artifact.manifestBytes.count), artifactType: MediaTypes.modelArtifact)
        switch reference {
        case .file(let path):
            throw RegistryError(.invalidReference, "--to \(path): publish writes to oci:PATH:TAG or HOST[:PORT]/REPO:TAG, not to a file")
        case .layout(let path, let tag, _):
            guard let tag else {
                throw RegistryError(.invalidReference, "--to \(reference): name a tag (oci:\(path):TAG) to publish under")
            }
            let layout = OCILayout(root: path)
            for blob in artifact.blobs { try layout.importBlob(from: blob.path, digest: blob.descriptor.digest) }
            _ = try layout.writeBlob(artifact.manifestBytes)
            try layout.tag(descriptor, as: tag)
        case .registry(let r):
            guard r.tag != nil else {
                throw RegistryError(.invalidReference, "--to \(r): name a tag (\(r.host)/\(r.repository):TAG) to publish under")
            }
            for blob in artifact.blobs { try await client.uploadBlob(blob.descriptor, from: blob.path, to: r) }
            try await client.putManifest(artifact.manifestBytes, mediaType: MediaTypes.ociManifest, to: r.with(tag: r.tag, digest: nil))
        }
        Log.notice("published \(reference) \(artifact.manifestDigest)")
        return artifact.manifestDigest
    }
}
