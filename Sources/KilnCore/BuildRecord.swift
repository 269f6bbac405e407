import Foundation

/// One engine build, kept in the cache's `builds.json` so `kiln doctor` can show recent builds.
public struct BuildRecord: Sendable, Codable, Equatable {
    /// Whether the build produced an engine.
    public enum Result: String, Sendable, Codable {
        /// An engine was built and stored.
        case succeeded
        /// The build threw; `error` says why.
        case failed
    }

    /// When the build finished.
    public var date: Date
    /// The cache key digest.
    public var key: String
    /// The model digest.
    public var model: String
    /// The backend name.
    public var backend: String
    /// The device profile, when known.
    public var profile: String?
    /// Whether it succeeded.
    public var result: Result
    /// The error's description, for failures.
    public var error: String?
    /// Every workspace size tried, in order, in bytes.
    public var workspaceTriedBytes: [Int]
    /// The workspace of the successful build, in bytes.
    public var workspaceBytes: Int?
    /// Seconds the build took.
    public var seconds: Double

    /// Creates a record dated now.
    public init(
        date: Date = Date(), key: String, model: String, backend: String, profile: String?, result: Result,
        error: String?, workspaceTriedBytes: [Int], workspaceBytes: Int?, seconds: Double
    ) {
        self.date = date
        self.key = key
        self.model = model
        self.backend = backend
        self.profile = profile
        self.result = result
        self.error = error
        self.workspaceTriedBytes = workspaceTriedBytes
        self.workspaceBytes = workspaceBytes
        self.seconds = seconds
    }
}

extension EngineCache {
    /// Appends a build record, keeping the newest `buildRecordLimit` (best effort: a failure to
    /// record is logged, never thrown, since it must not fail a build).
    public func recordBuild(_ record: BuildRecord) {
        do {
            try ensureDirectories()
            let lock = try FileLock(path: buildsLockPath)
            try lock.lock(exclusive: true)
            defer { lock.unlock() }
            var records = recentBuilds()
            records.append(record)
            if records.count > buildRecordLimit { records.removeFirst(records.count - buildRecordLimit) }
            try AtomicFile.write(Array(EngineCacheEntry.encoder.encode(records)), to: buildsPath)
        } catch {
            Log.warning("engine cache: cannot record the build of \(record.key): \(error)")
        }
    }

    /// The recorded builds, oldest first; empty when none were recorded or the file is unreadable.
    public func recentBuilds() -> [BuildRecord] {
        guard let bytes = try? AtomicFile.read(buildsPath) else { return [] }
        return (try? EngineCacheEntry.decoder.decode([BuildRecord].self, from: Data(bytes))) ?? []
    }
}
