import Foundation

/// An OCI content descriptor: what a blob or manifest is, where to find it, how big it is.
public struct OCIDescriptor: Sendable, Codable, Equatable {
    /// The media type of the referenced content.
    public var mediaType: String
    /// The content's digest.
    public var digest: Digest
    /// The content's size in bytes; downloads larger than this are cut off and rejected.
    public var size: Int64
    /// Annotations (file names, ref names, Kiln metadata).
    public var annotations: [String: String]?
    /// For index entries: the artifact type of the referenced manifest.
    public var artifactType: String?
    /// For index entries: the platform the referenced manifest is for.
    public var platform: Platform?

    /// An OS/architecture pair in an index.
    public struct Platform: Sendable, Codable, Equatable {
        /// `linux`.
        public var os: String
        /// `arm64`, `amd64`.
        public var architecture: String
        /// `v8` and the like.
        public var variant: String?
    }
}

/// An OCI image manifest (or Docker v2 schema 2 manifest, which has the same shape).
public struct OCIManifest: Sendable, Codable, Equatable {
    /// Always 2.
    public var schemaVersion = 2
    /// The manifest's own media type.
    public var mediaType: String? = MediaTypes.ociManifest
    /// OCI 1.1 artifact type (ModelPack sets it).
    public var artifactType: String?
    /// The config blob.
    public var config: OCIDescriptor
    /// The layers, in order.
    public var layers: [OCIDescriptor]
    /// Manifest annotations (Kiln's policy lives here).
    public var annotations: [String: String]?
}

/// An OCI image index or Docker manifest list.
public struct OCIIndex: Sendable, Codable, Equatable {
    /// Always 2.
    public var schemaVersion = 2
    /// The index's media type (absent in image layouts' index.json).
    public var mediaType: String? = MediaTypes.ociIndex
    /// The referenced manifests.
    public var manifests: [OCIDescriptor]
    /// Index annotations.
    public var annotations: [String: String]?

    /// The entry for this machine: `linux/arm64` on ARM, `linux/amd64` on x86-64; an entry with
    /// no platform when none has one (artifact indexes); nil when nothing fits.
    public func entryForThisMachine() -> OCIDescriptor? {
        #if arch(arm64)
        let arch = "arm64"
        #else
        let arch = "amd64"
        #endif
        if let e = manifests.first(where: { $0.platform?.os == "linux" && $0.platform?.architecture == arch }) { return e }
        if manifests.allSatisfy({ $0.platform == nil }) { return manifests.first }
        return nil
    }
}

/// Canonical JSON for manifests and configs Kiln writes: sorted keys, no escaped slashes.
enum CanonicalJSON {
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }
}

/// A manifest document as fetched: either a manifest or an index, with its bytes and digest.
public enum ManifestDocument: Sendable {
    /// An image/artifact manifest.
    case manifest(OCIManifest)
    /// An index or manifest list.
    case index(OCIIndex)

    /// Parses manifest bytes of `mediaType` (or sniffs the `mediaType`/`manifests` fields).
    public static func parse(_ bytes: [UInt8], mediaType: String?, source: String) throws -> ManifestDocument {
        struct Probe: Decodable {
            var mediaType: String?
            var manifests: [OCIDescriptor]?
            var schemaVersion: Int?
        }
        let data = Data(bytes)
        let probe: Probe
        do { probe = try JSONDecoder().decode(Probe.self, from: data) } catch {
            throw RegistryError(.invalidArtifact, "manifest of \(source) is not valid JSON: \(error)")
        }
        guard probe.schemaVersion == 2 else {
            throw RegistryError(.invalidArtifact, "manifest of \(source) has schemaVersion \(probe.schemaVersion.map(String.init) ?? "none"); only schema 2 (OCI / Docker v2.2) is supported")
        }
        let type = probe.mediaType ?? mediaType
        do {
            if type == MediaTypes.ociIndex || type == MediaTypes.dockerManifestList || (type == nil && probe.manifests != nil) {
                return .index(try JSONDecoder().decode(OCIIndex.self, from: data))
            }
            return .manifest(try JSONDecoder().decode(OCIManifest.self, from: data))
        } catch let e as RegistryError {
            throw e
        } catch {
            throw RegistryError(.invalidArtifact, "manifest of \(source) is malformed: \(error)")
        }
    }
}
