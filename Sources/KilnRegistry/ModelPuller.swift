import Foundation
import Glibc
import KilnCore

/// Resolves model references and fetches artifacts into the local store.
///
/// Every blob is streamed into a `.partial` file beside its final place, hashed as it
/// arrives, and renamed into the store only when its size and sha256 match the descriptor; a
/// mismatching blob is deleted and the store's index is left exactly as it was. The index
/// entry for the reference is written last, so a failed pull changes nothing a reader sees.
public struct ModelPuller: Sendable {
    /// The local store pulls land in.
    public let store: ModelStore
    /// The registry client for `HOST/REPO` references.
    public let client: RegistryClient

    /// Creates a puller.
    public init(store: ModelStore, client: RegistryClient) {
        self.store = store
        self.client = client
    }

    /// The digest `reference` points at now, as cheaply as possible (a HEAD for registries):
    /// what a rollout poll compares with the active digest.
    public func currentDigest(of reference: ModelReference) async throws -> Digest {
        switch reference {
        case .file(let path):
            return try FileDigest.of(path: path).digest
        case .layout(let path, let tag, let digest):
            if let digest { return digest }
            return try OCILayout(root: path).descriptor(tag: tag ?? "latest").digest
        case .registry(let r):
            return try await client.resolve(r).digest
        }
    }

    /// Fetches the artifact `reference` names into the store and returns where its model is.
    ///
    /// A registry pull stops after the client's `pullDeadline` with a transport error; what was
    /// downloaded is kept for the next pull to resume.
    public func pull(_ reference: ModelReference) async throws -> PulledModel {
        guard case .registry = reference else { return try await pullNow(reference) }
        let seconds = client.configuration.pullDeadline
        return try await withThrowingTaskGroup(of: PulledModel?.self) { group in
            group.addTask { try await pullNow(reference) }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let pulled = first else {
                throw RegistryError(.transport, "pull of \(reference) did not finish within its \(Int(seconds)) s deadline (the registry or the link is too slow); what arrived is kept and the next pull resumes it. Raise the deadline (--pull-deadline, or pull-deadline in kiln.conf) for a slow link")
            }
            return pulled
        }
    }

    private func pullNow(_ reference: ModelReference) async throws -> PulledModel {
        // Content pinned by digest never changes: serve it from the store when it is there, so a
        // restart does not need the registry.
        if reference.isPinned, let local = try? storedModel(reference) { return local }
        switch reference {
        case .file(let path):
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw RegistryError(.io, "model file \(path) does not exist or is not readable")
            }
            let (digest, size) = try FileDigest.of(path: path)
            return PulledModel(reference: path, digest: digest, path: path, modelDigest: digest, modelSize: size,
                               goldenPath: nil, annotations: KilnAnnotations())
        case .layout(let path, let tag, let digest):
            let layout = OCILayout(root: path)
            let top: OCIDescriptor
            if let digest {
                top = (try? layout.index().manifests.first { $0.digest == digest })
                    ?? OCIDescriptor(mediaType: MediaTypes.ociManifest, digest: digest, size: 0)
            } else {
                top = try layout.descriptor(tag: tag ?? "latest")
            }
            let bytes = try layout.readBlob(top.digest, limit: 4 << 20)
            return try await finish(
                reference: reference, topDigest: top.digest, topBytes: bytes, topMediaType: top.mediaType,
                fetchManifest: { try layout.readBlob($0, limit: 4 << 20) },
                fetchBlob: { descriptor, partial in try Self.copyBlob(layout, descriptor, to: partial) })
        case .registry(let r):
            let (bytes, mediaType) = try await client.manifest(r)
            let client = self.client
            return try await finish(
                reference: reference, topDigest: Digest.of(bytes), topBytes: bytes, topMediaType: mediaType,
                fetchManifest: { digest in try await client.manifest(r.with(tag: nil, digest: digest)).bytes },
                fetchBlob: { descriptor, partial in try await client.downloadBlob(descriptor, from: r, to: partial) })
        }
    }

    private func finish(
        reference: ModelReference, topDigest: Digest, topBytes: [UInt8], topMediaType: String?,
        fetchManifest: @Sendable (Digest) async throws -> [UInt8],
        fetchBlob: @Sendable (OCIDescriptor, String) async throws -> Digest
    ) async throws -> PulledModel {
        let source = reference.description
        var manifestBytes = topBytes
        var document = try ManifestDocument.parse(topBytes, mediaType: topMediaType, source: source)
        var childManifest: [UInt8]?
        if case .index(let index) = document {
            guard let entry = index.entryForThisMachine() else {
                let platforms = index.manifests.map { "\($0.platform?.os ?? "?")/\($0.platform?.architecture ?? "?")" }
                throw RegistryError(.invalidArtifact, "index \(source) has no entry for this machine's platform (has \(platforms.joined(separator: ", ")))")
            }
            manifestBytes = try await fetchManifest(entry.digest)
            guard Digest.of(manifestBytes) == entry.digest else {
                throw RegistryError(.digestMismatch, "manifest \(entry.digest) of \(source) is corrupt (hashes to \(Digest.of(manifestBytes))); refused")
            }
            document = try ManifestDocument.parse(manifestBytes, mediaType: entry.mediaType, source: source)
            childManifest = manifestBytes
        }
        guard case .manifest(let manifest) = document else {
            throw RegistryError(.invalidArtifact, "\(source) is an index of indexes; Kiln expects a manifest or one level of index")
        }
        let artifact = try ModelArtifact(manifest: manifest, source: source)
        var needed = [artifact.modelLayer]
        if let golden = artifact.goldenLayer { needed.append(golden) }
        if manifest.config.size <= 1 << 20 { needed.insert(manifest.config, at: 0) }
        for descriptor in needed {
            try await fetchIntoStore(descriptor, source: source, fetchBlob: fetchBlob)
        }
        if let childManifest { _ = try store.layout.writeBlob(childManifest) }
        _ = try store.layout.writeBlob(topBytes)
        try store.layout.tag(OCIDescriptor(mediaType: topMediaType ?? manifest.mediaType ?? MediaTypes.ociManifest, digest: topDigest,
                                           size: Int64(topBytes.count), artifactType: manifest.artifactType),
                             as: source)
        Log.info("pulled \(source) \(topDigest.short): model \(artifact.modelLayer.digest.short) (\(artifact.modelLayer.size) bytes)")
        return PulledModel(
            reference: source, digest: topDigest, path: store.layout.blobPath(artifact.modelLayer.digest),
            modelDigest: artifact.modelLayer.digest, modelSize: artifact.modelLayer.size,
            goldenPath: artifact.goldenLayer.map { store.layout.blobPath($0.digest) }, annotations: artifact.annotations)
    }

    private func fetchIntoStore(_ descriptor: OCIDescriptor, source: String,
                                fetchBlob: @Sendable (OCIDescriptor, String) async throws -> Digest) async throws {
        if store.layout.hasBlob(descriptor.digest) { return }
        try store.layout.ensureLayout()
        let partial = store.partialPath(descriptor.digest)
        let got = try await fetchBlob(descriptor, partial)
        let size = (try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? Int64) ?? -1
        guard size == descriptor.size else {
            unlink(partial)
            throw RegistryError(.sizeMismatch, "blob \(descriptor.digest) of \(source) is \(size) bytes, its descriptor says \(descriptor.size); discarded, nothing changed")
        }
        guard got == descriptor.digest else {
            unlink(partial)
            throw RegistryError(.digestMismatch, "blob \(descriptor.digest) of \(source) is corrupt: its content hashes to \(got); discarded, nothing changed")
        }
        try AtomicFile.sync(partial)
        try AtomicFile.commit(partial, to: store.layout.blobPath(descriptor.digest))
    }

    private static func copyBlob(_ layout: OCILayout, _ descriptor: OCIDescriptor, to partial: String) throws -> Digest {
        let source = layout.blobPath(descriptor.digest)
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: source), let size = attrs[.size] as? Int64 else {
            throw RegistryError(.notFound, "oci:\(layout.root): blob \(descriptor.digest) is missing")
        }
        guard size == descriptor.size else {
            throw RegistryError(.sizeMismatch, "oci:\(layout.root): blob \(descriptor.digest) is \(size) bytes, its descriptor says \(descriptor.size)")
        }
        unlink(partial)
        return Digest(hex: try AtomicFile.copy(source, to: partial))
    }

    /// The model a pinned reference was pulled as earlier, read from the store alone; nil if
    /// the store does not hold it completely.
    public func storedModel(_ reference: ModelReference) throws -> PulledModel? {
        guard let top = try store.lookup(reference.description) else { return nil }
        let source = reference.description
        let topBytes = try store.layout.readBlob(top.digest, limit: 4 << 20)
        var document = try ManifestDocument.parse(topBytes, mediaType: top.mediaType, source: source)
        if case .index(let index) = document, let entry = index.entryForThisMachine() {
            document = try ManifestDocument.parse(try store.layout.readBlob(entry.digest, limit: 4 << 20), mediaType: entry.mediaType, source: source)
        }
        guard case .manifest(let manifest) = document else { return nil }
        let artifact = try ModelArtifact(manifest: manifest, source: source)
        guard store.layout.hasBlob(artifact.modelLayer.digest),
              artifact.goldenLayer.map({ store.layout.hasBlob($0.digest) }) ?? true else { return nil }
        return PulledModel(
            reference: source, digest: top.digest, path: store.layout.blobPath(artifact.modelLayer.digest),
            modelDigest: artifact.modelLayer.digest, modelSize: artifact.modelLayer.size,
            goldenPath: artifact.goldenLayer.map { store.layout.blobPath($0.digest) }, annotations: artifact.annotations)
    }
}

extension ModelReference {
    /// True when the reference names a digest (immutable content).
    public var isPinned: Bool {
        switch self {
        case .file: false
        case .layout(_, _, let digest): digest != nil
        case .registry(let r): r.digest != nil
        }
    }
}
