import Foundation
import Glibc
import KilnCore

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`), read and
/// written the way skopeo and oras do: tags are `org.opencontainers.image.ref.name`
/// annotations on `index.json` entries.
///
/// Writers take an exclusive `flock` on `index.json.lock` for the read-modify-write of the
/// index, and write every file atomically.
public struct OCILayout: Sendable {
    /// The layout's root directory.
    public let root: String

    /// A layout at `root` (not created until written to).
    public init(root: String) { self.root = root }

    /// The path of a blob.
    public func blobPath(_ digest: Digest) -> String { "\(root)/blobs/sha256/\(digest.hex)" }

    /// True if the blob file exists.
    public func hasBlob(_ digest: Digest) -> Bool { FileManager.default.fileExists(atPath: blobPath(digest)) }

    /// Reads `index.json`; an empty index if the layout has none yet.
    public func index() throws -> OCIIndex {
        let path = root + "/index.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: root + "/oci-layout") || !FileManager.default.fileExists(atPath: root) {
                return OCIIndex(mediaType: MediaTypes.ociIndex, manifests: [])
            }
            throw RegistryError(.notFound, "\(root) is not an OCI image layout (no index.json)")
        }
        do { return try JSONDecoder().decode(OCIIndex.self, from: data) } catch {
            throw RegistryError(.invalidArtifact, "\(path) is not a valid OCI index: \(error)")
        }
    }

    /// The manifest descriptor tagged `tag`; `notFound` listing the tags that exist otherwise.
    public func descriptor(tag: String) throws -> OCIDescriptor {
        guard FileManager.default.fileExists(atPath: root + "/index.json") else {
            throw RegistryError(.notFound, "oci:\(root): no OCI image layout there (index.json missing); publish into it with `kiln publish MODEL.onnx --to oci:\(root):\(tag)`")
        }
        let index = try index()
        if let d = index.manifests.last(where: { $0.annotations?[AnnotationKeys.refName] == tag }) { return d }
        let tags = index.manifests.compactMap { $0.annotations?[AnnotationKeys.refName] }
        throw RegistryError(.notFound, "oci:\(root): no tag \(tag) (tags: \(tags.isEmpty ? "none" : tags.joined(separator: ", ")))")
    }

    /// Reads a blob whole (manifests, configs); refuses content that does not hash to `digest`.
    public func readBlob(_ digest: Digest, limit: Int = 64 << 20) throws -> [UInt8] {
        let path = blobPath(digest)
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
              let size = attrs[.size] as? Int else {
            throw RegistryError(.notFound, "oci:\(root): blob \(digest) is missing")
        }
        guard size <= limit else { throw RegistryError(.sizeMismatch, "oci:\(root): blob \(digest) is \(size) bytes, over the \(limit) byte limit") }
        guard let data = FileManager.default.contents(atPath: path) else { throw RegistryError(.io, "cannot read \(path)") }
        let bytes = Array(data)
        guard Digest.of(bytes) == digest else {
            throw RegistryError(.digestMismatch, "oci:\(root): blob \(digest) is corrupt (its content hashes to \(Digest.of(bytes)))")
        }
        return bytes
    }

    /// Writes a small blob atomically (no-op if present).
    public func writeBlob(_ bytes: [UInt8]) throws -> Digest {
        let digest = Digest.of(bytes)
        if !hasBlob(digest) {
            try ensureLayout()
            try AtomicFile.write(bytes, to: blobPath(digest))
        }
        return digest
    }

    /// Copies a file in as a blob, verifying it hashes to `digest` (no-op if present).
    public func importBlob(from path: String, digest: Digest) throws {
        if hasBlob(digest) { return }
        try ensureLayout()
        let tmp = blobPath(digest) + ".import-\(getpid())"
        let actual = Digest(hex: try AtomicFile.copy(path, to: tmp))
        guard actual == digest else {
            unlink(tmp)
            throw RegistryError(.digestMismatch, "\(path) hashes to \(actual), not \(digest); it changed while publishing")
        }
        try AtomicFile.commit(tmp, to: blobPath(digest))
    }

    /// Points `tag` at a manifest, replacing any previous entry with that tag.
    public func tag(_ descriptor: OCIDescriptor, as tag: String) throws {
        try ensureLayout()
        try withLock {
            var index = try self.index()
            index.manifests.removeAll { $0.annotations?[AnnotationKeys.refName] == tag }
            var entry = descriptor
            entry.annotations = (entry.annotations ?? [:]).merging([AnnotationKeys.refName: tag]) { $1 }
            index.manifests.append(entry)
            index.schemaVersion = 2
            try AtomicFile.write(try CanonicalJSON.encode(index), to: root + "/index.json")
        }
    }

    /// Creates `oci-layout` and the blob directory if missing.
    public func ensureLayout() throws {
        try AtomicFile.createDirectory(root + "/blobs/sha256")
        if !FileManager.default.fileExists(atPath: root + "/oci-layout") {
            try AtomicFile.write(Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8), to: root + "/oci-layout")
        }
        if !FileManager.default.fileExists(atPath: root + "/index.json") {
            try withLock {
                if !FileManager.default.fileExists(atPath: root + "/index.json") {
                    try AtomicFile.write(try CanonicalJSON.encode(OCIIndex(mediaType: MediaTypes.ociIndex, manifests: [])), to: root + "/index.json")
                }
            }
        }
    }

    private func withLock<T>(_ body: () throws -> T) throws -> T {
        let path = root + "/index.json.lock"
        let fd = try FileDescriptor.open(path, .readWrite, options: .create)
        defer { fd.closeIgnoringErrors() }
        try Posix.call("lock", path: path) { flock(fd.rawValue, LOCK_EX) }
        defer { flock(fd.rawValue, LOCK_UN) }
        return try body()
    }
}
