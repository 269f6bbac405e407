import Foundation

/// One cache entry's metadata, stored as JSON beside the engine file (`<key>.json`).
///
/// Carries the key's fields in clear text so `kiln cache ls` and `gc` can read them without the
/// model, and the engine's sha256 so every load can verify the bytes.
public struct EngineCacheEntry: Sendable, Codable, Equatable {
    /// The metadata format version.
    public var format: Int
    /// The key digest (the file name).
    public var key: String
    /// The model digest, `sha256:<hex>`.
    public var model: String
    /// The backend identity the engine is bound to.
    public var identity: BackendIdentity
    /// The normalised build options.
    public var options: [String: String]
    /// sha256 of the engine file's bytes, lower-case hex.
    public var engineSHA256: String
    /// The engine file's size in bytes.
    public var engineBytes: Int
    /// Seconds the build took.
    public var buildSeconds: Double
    /// The workspace the build used, in bytes.
    public var workspaceBytes: Int
    /// When the entry was written.
    public var created: Date
    /// When the entry was last loaded (LRU eviction order).
    public var lastUsed: Date
    /// The device the engine was built on (`NVIDIA Jetson Orin Nano Developer Kit`), when known.
    public var device: String?
    /// The device profile in use when it was built, when known.
    public var profile: String?

    /// The key that produced this entry, rebuilt from its fields.
    public var cacheKey: EngineCacheKey {
        EngineCacheKey(modelDigest: model, identity: identity, optionFields: options)
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
                return date
            }
            if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return date }
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an ISO 8601 date: \(text)")
        }
        return d
    }()
}

/// What `lookupOrBuild` did: `engine.cache` in `kiln run --json` is `hit` or `miss`.
public enum CacheOutcome: Sendable, Equatable, CustomStringConvertible {
    /// A verified entry was loaded.
    case hit
    /// No entry: the engine was built and stored.
    case miss
    /// The entry failed verification, was deleted, and the engine was rebuilt; `reason` says why.
    case rebuiltCorrupt(reason: String)
    /// The engine was built but could not be stored (read-only or full cache); `reason` says why.
    case uncached(reason: String)

    /// `hit` or `miss` (a rebuilt corrupt or uncached engine was built: `miss`); `engine.cache` in JSON.
    public var jsonValue: String {
        switch self {
        case .hit: "hit"
        case .miss, .rebuiltCorrupt, .uncached: "miss"
        }
    }

    /// `hit`, `miss`, `rebuilt-corrupt` or `uncached`.
    public var description: String {
        switch self {
        case .hit: "hit"
        case .miss: "miss"
        case .rebuiltCorrupt: "rebuilt-corrupt"
        case .uncached: "uncached"
        }
    }
}

/// Where in an entry write the cache is; reported to `EngineCache.writeObserver`.
///
/// Lets tests stop a writer at each step (and lets diagnostics trace slow writes).
public enum CacheWriteStage: String, Sendable, CaseIterable {
    /// The first chunk of the engine's temporary file is on disk, the rest is not.
    case engineTempPartiallyWritten = "engine-temp-partial"
    /// The engine's temporary file is complete and synced, not yet renamed.
    case engineTempWritten = "engine-temp-written"
    /// The engine file is in place; its metadata is not.
    case engineInstalled = "engine-installed"
    /// The metadata's temporary file is complete and synced, not yet renamed.
    case metadataTempWritten = "metadata-temp-written"
    /// The entry is complete.
    case metadataInstalled = "metadata-installed"
}

/// Facts about where an engine was built, stored in its metadata and build record.
public struct CacheEntryContext: Sendable {
    /// The device's name.
    public var device: String?
    /// The device profile's name.
    public var profile: String?
    /// The workspace the build was planned with (`WorkspacePlan.workspaceBytes`).
    public var plannedWorkspaceBytes: Int?

    /// Creates a context.
    public init(device: String? = nil, profile: String? = nil, plannedWorkspaceBytes: Int? = nil) {
        self.device = device
        self.profile = profile
        self.plannedWorkspaceBytes = plannedWorkspaceBytes
    }
}
