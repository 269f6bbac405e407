import Foundation
import Glibc

/// Kiln's content-addressed engine cache: engines keyed by everything that makes them valid.
///
/// Layout under `directory`:
/// - `engines/<key>.engine` and `engines/<key>.json` (the engine and its `EngineCacheEntry`)
/// - `locks/<key>.lock` (held exclusively while the key is built or removed)
/// - `cache.lock` (shared while an entry is written, exclusive for eviction and `gc`)
/// - `builds.json` (recent `BuildRecord`s, for `kiln doctor`), `timing/` (timing caches)
///
/// Every write is atomic (temporary file in the same directory, fsync, rename, fsync of the
/// directory) and the engine's sha256 is checked on every load, so a reader never gets a wrong or
/// partial engine. Calls block on file I/O and locks: run them on a dedicated thread.
public struct EngineCache: Sendable {
    /// The cache's root directory.
    public var directory: String
    /// The disk budget in bytes; least recently used entries are evicted beyond it.
    public var budgetBytes: Int
    /// How many build records `builds.json` keeps.
    public var buildRecordLimit = 50
    /// Called at each step of an entry write (see `CacheWriteStage`); for tests and tracing.
    public var writeObserver: (@Sendable (CacheWriteStage) -> Void)?

    /// Creates a cache rooted at `directory` (created on first write) with a budget in bytes.
    public init(directory: String, budgetBytes: Int = 4 << 30) {
        self.directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        self.budgetBytes = budgetBytes
    }

    // MARK: Paths

    var enginesDirectory: String { directory + "/engines" }
    var locksDirectory: String { directory + "/locks" }
    var timingDirectory: String { directory + "/timing" }
    var cacheLockPath: String { directory + "/cache.lock" }
    var buildsPath: String { directory + "/builds.json" }
    var buildsLockPath: String { directory + "/builds.lock" }
    /// The engine file of `key` (digest).
    public func enginePath(_ key: String) -> String { "\(enginesDirectory)/\(key).engine" }
    /// The metadata file of `key` (digest).
    public func metadataPath(_ key: String) -> String { "\(enginesDirectory)/\(key).json" }
    func lockPath(_ key: String) -> String { "\(locksDirectory)/\(key).lock" }

    /// Creates the cache's directories.
    func ensureDirectories() throws {
        for dir in [directory, enginesDirectory, locksDirectory] {
            try EngineCacheError.io { () throws(SystemError) in try AtomicFile.createDirectory(dir) }
        }
    }

    // MARK: Lookup

    /// The result of reading one entry without building.
    public enum LookupResult: Sendable {
        /// A verified engine and its metadata.
        case hit(EngineArtifact, EngineCacheEntry)
        /// No complete entry.
        case absent
        /// An entry exists but failed verification; `reason` says how.
        case corrupt(reason: String)
    }

    /// Reads and verifies the entry for `key` without locking or changing anything.
    public func read(_ key: EngineCacheKey) throws -> LookupResult {
        let result = try read(digest: key.digest)
        if case .hit(_, let entry) = result, entry.cacheKey != key {
            return .corrupt(reason: "metadata \(metadataPath(key.digest)) describes another key")
        }
        return result
    }

    /// Reads and verifies the entry stored under the key digest `digest` (hex) without locking or
    /// changing anything: what another process (an isolated child) loads by the digest alone.
    public func read(digest: String) throws -> LookupResult {
        guard digest.count == 64, digest.allSatisfy(\.isHexDigit) else {
            return .corrupt(reason: "\(digest.debugDescription) is not an engine cache key")
        }
        guard let metaBytes = try EngineCacheError.io({ () throws(SystemError) in try AtomicFile.read(metadataPath(digest)) }) else { return .absent }
        let entry: EngineCacheEntry
        do {
            entry = try EngineCacheEntry.decoder.decode(EngineCacheEntry.self, from: Data(metaBytes))
        } catch {
            return .corrupt(reason: "metadata \(metadataPath(digest)) is unreadable (\(error))")
        }
        guard entry.key == digest else {
            return .corrupt(reason: "metadata \(metadataPath(digest)) describes another key")
        }
        // Missing engine: a concurrent eviction or an interrupted write, not corruption.
        guard let bytes = try EngineCacheError.io({ () throws(SystemError) in try AtomicFile.read(enginePath(digest)) }) else { return .absent }
        guard bytes.count == entry.engineBytes else {
            return .corrupt(reason: "engine \(enginePath(digest)) has \(bytes.count) bytes, metadata says \(entry.engineBytes)")
        }
        let actual = SHA256.hex(bytes)
        guard actual == entry.engineSHA256 else {
            return .corrupt(reason: "engine \(enginePath(digest)) has sha256 \(actual), metadata says \(entry.engineSHA256)")
        }
        let artifact = EngineArtifact(
            bytes: bytes, identity: entry.identity, workspaceBytes: entry.workspaceBytes, buildSeconds: entry.buildSeconds)
        return .hit(artifact, entry)
    }

    /// Loads a verified engine for `key` and marks it used; `nil` on a miss.
    ///
    /// A corrupt entry is deleted (with a warning naming the reason) and reported as a miss.
    public func lookup(_ key: EngineCacheKey) throws -> (EngineArtifact, EngineCacheEntry)? {
        var result = try read(key)
        if case .corrupt = result {
            // Read again under the key's lock (a builder may be replacing it); still corrupt: delete it.
            try ensureDirectories()
            let lock = try FileLock(path: lockPath(key.digest))
            try lock.lock(exclusive: true)
            defer { lock.unlock() }
            result = try read(key)
            if case .corrupt(let reason) = result {
                Log.warning("engine cache: deleted corrupt entry \(key.digest): \(reason)")
                try removeFiles(key.digest)
                return nil
            }
        }
        guard case .hit(let artifact, let entry) = result else { return nil }
        touch(entry)
        return (artifact, entry)
    }

    /// Returns the cached engine for `key`, or builds it with `build`, stores it and returns it.
    ///
    /// Concurrent callers for one key, in this or other processes, build it once: the others wait
    /// on the key's lock and then load the stored entry (outcome `.hit`). A corrupt entry is
    /// deleted with a warning and rebuilt (`.rebuiltCorrupt`). Every build is recorded in the
    /// build records; after storing, the cache is trimmed to `budgetBytes` (least recently used
    /// first, never the new entry). `build` runs on the calling thread while the key is locked.
    /// When the cache cannot be written (read-only, full), the engine is built and returned
    /// with outcome `.uncached` and a warning, rather than failing the caller.
    public func lookupOrBuild(
        key: EngineCacheKey, context: CacheEntryContext = CacheEntryContext(),
        build: () throws -> EngineArtifact
    ) throws -> (artifact: EngineArtifact, outcome: CacheOutcome) {
        var corruption: String?
        let first: LookupResult
        do {
            first = try read(key)
        } catch {
            Log.warning("engine cache: \(error); building \(key.digest) without caching it")
            return (try build(), .uncached(reason: "\(error)"))
        }
        switch first {
        case .hit(let artifact, let entry):
            touch(entry)
            return (artifact, .hit)
        case .corrupt(let reason): corruption = reason
        case .absent: break
        }
        let digest = key.digest
        let lock: FileLock
        do {
            try ensureDirectories()
            lock = try FileLock(path: lockPath(digest))
            try lock.lock(exclusive: true)
        } catch {
            // A read-only or full cache must not stop inference: build, use, don't store.
            Log.warning("engine cache: \(error); building \(digest) without caching it")
            return (try build(), .uncached(reason: "\(error)"))
        }
        defer { lock.unlock() }
        switch try read(key) {
        case .hit(let artifact, let entry):
            // Another process built (or repaired) it while this one waited for the lock.
            touch(entry)
            return (artifact, .hit)
        case .corrupt(let reason):
            corruption = reason
        case .absent:
            corruption = nil
        }
        if let corruption {
            Log.warning("engine cache: entry \(digest) is corrupt (\(corruption)); deleted it, rebuilding")
        }
        // Stale halves (metadata of an evicted engine, an engine without metadata) go first.
        try removeFiles(digest)

        let started = MonotonicClock.now
        let artifact: EngineArtifact
        do {
            artifact = try build()
        } catch {
            recordBuild(BuildRecord(
                key: digest, model: key.modelDigest, backend: key.identity.backend, profile: context.profile,
                result: .failed, error: "\(error)", workspaceTriedBytes: context.plannedWorkspaceBytes.map { [$0] } ?? [],
                workspaceBytes: nil, seconds: MonotonicClock.now - started))
            throw error
        }
        let seconds = artifact.buildSeconds > 0 ? artifact.buildSeconds : MonotonicClock.now - started
        guard artifact.identity == key.identity else {
            throw EngineCacheError.identityMismatch(key: digest, expected: key.identity, built: artifact.identity)
        }
        var stored = artifact
        stored.buildSeconds = seconds
        do {
            try store(artifact, for: key, buildSeconds: seconds, context: context)
        } catch {
            // The engine is good; only keeping it failed (disk full, say). Nothing half-written
            // remains: the atomic writes removed their temporary files.
            Log.warning("engine cache: cannot store \(digest): \(error); using the engine uncached")
            try? removeFiles(digest)
            return (stored, .uncached(reason: "\(error)"))
        }
        var tried = context.plannedWorkspaceBytes.map { [$0] } ?? []
        // Backends that report the workspace they used (TensorRT) add it when it differs from the plan.
        if artifact.workspaceBytes > 0, tried.last != artifact.workspaceBytes { tried.append(artifact.workspaceBytes) }
        recordBuild(BuildRecord(
            key: digest, model: key.modelDigest, backend: key.identity.backend, profile: context.profile,
            result: .succeeded, error: nil, workspaceTriedBytes: tried, workspaceBytes: artifact.workspaceBytes,
            seconds: seconds))
        do {
            try evict(toBudget: budgetBytes, protecting: [digest])
        } catch {
            Log.warning("engine cache: eviction failed: \(error)")
        }
        return (stored, corruption.map { .rebuiltCorrupt(reason: $0) } ?? .miss)
    }

    // MARK: Writing

    /// Writes an entry for `key` (the caller holds the key's lock): engine first, metadata last,
    /// each atomically, while holding the cache lock shared so `gc` never sees a live temp file.
    @discardableResult
    func store(_ artifact: EngineArtifact, for key: EngineCacheKey, buildSeconds: Double,
               context: CacheEntryContext) throws -> EngineCacheEntry {
        let digest = key.digest
        let cacheLock = try FileLock(path: cacheLockPath)
        try cacheLock.lock(exclusive: false)
        defer { cacheLock.unlock() }
        let now = Date()
        let entry = EngineCacheEntry(
            format: 1, key: digest, model: key.modelDigest, identity: key.identity, options: key.options,
            engineSHA256: SHA256.hex(artifact.bytes), engineBytes: artifact.bytes.count, buildSeconds: buildSeconds,
            workspaceBytes: artifact.workspaceBytes, created: now, lastUsed: now, device: context.device,
            profile: context.profile)
        let observer = writeObserver
        try EngineCacheError.io { () throws(SystemError) in
            try AtomicFile.write(artifact.bytes, to: enginePath(digest)) { partial in
                observer?(partial ? .engineTempPartiallyWritten : .engineTempWritten)
            }
        }
        observer?(.engineInstalled)
        let meta = try Array(EngineCacheEntry.encoder.encode(entry))
        try EngineCacheError.io { () throws(SystemError) in
            try AtomicFile.write(meta, to: metadataPath(digest)) { partial in
                if !partial { observer?(.metadataTempWritten) }
            }
        }
        observer?(.metadataInstalled)
        return entry
    }

    /// Rewrites an entry's `lastUsed` (best effort: skipped while anyone else holds the key or the cache).
    func touch(_ entry: EngineCacheEntry) {
        guard let keyLock = try? FileLock(path: lockPath(entry.key)), keyLock.tryLock(exclusive: true) else { return }
        defer { keyLock.unlock() }
        guard let cacheLock = try? FileLock(path: cacheLockPath), cacheLock.tryLock(exclusive: false) else { return }
        defer { cacheLock.unlock() }
        // Only rewrite the metadata if it still describes the same engine (not removed or replaced).
        guard let bytes = try? AtomicFile.read(metadataPath(entry.key)),
            let current = try? EngineCacheEntry.decoder.decode(EngineCacheEntry.self, from: Data(bytes)),
            current.engineSHA256 == entry.engineSHA256
        else { return }
        var updated = current
        updated.lastUsed = Date()
        guard let meta = try? Array(EngineCacheEntry.encoder.encode(updated)) else { return }
        try? AtomicFile.write(meta, to: metadataPath(entry.key))
    }

    /// Removes both files of an entry (metadata first, so no reader pairs it with a new engine).
    func removeFiles(_ digest: String) throws {
        let removedMeta = AtomicFile.remove(metadataPath(digest))
        let removedEngine = AtomicFile.remove(enginePath(digest))
        if removedMeta || removedEngine { try EngineCacheError.io { () throws(SystemError) in try AtomicFile.syncDirectory(enginesDirectory) } }
    }
}

extension EngineCache {
    /// The cache this process uses on a device with `profile`: `directory` or the default
    /// (`defaultDirectory()`), with the profile's disk budget (`engineCacheBudgetMiB`).
    public init(profile: DeviceProfile, directory: String? = nil) {
        self.init(directory: directory ?? KilnDirectories().cache, budgetBytes: profile.engineCacheBudgetMiB << 20)
    }
}
