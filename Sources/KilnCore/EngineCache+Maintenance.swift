import Foundation
import Glibc

extension EngineCache {
    /// Every entry with readable metadata, most recently used first (files are not verified).
    public func entries() -> [EngineCacheEntry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: enginesDirectory)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.compactMap { name in
            guard let bytes = try? AtomicFile.read(enginesDirectory + "/" + name) else { return nil }
            return try? EngineCacheEntry.decoder.decode(EngineCacheEntry.self, from: Data(bytes))
        }.sorted { $0.lastUsed > $1.lastUsed }
    }

    /// How much disk the cache uses.
    public struct Usage: Sendable, Codable, Equatable {
        /// The cache directory.
        public var directory: String
        /// Complete entries.
        public var entries: Int
        /// Bytes in `engines/` (engines, metadata and any leftovers).
        public var bytes: Int
        /// The disk budget.
        public var budgetBytes: Int
    }

    /// The cache's current disk usage.
    public func usage() -> Usage {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: enginesDirectory)) ?? []
        let bytes = names.reduce(0) { $0 + (AtomicFile.size(enginesDirectory + "/" + $1) ?? 0) }
        let complete = names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.count
        return Usage(directory: directory, entries: complete, bytes: bytes, budgetBytes: budgetBytes)
    }

    /// Evicts least recently used entries until the cache fits in `budget` bytes.
    ///
    /// Holds the cache lock exclusively; skips entries in `protecting` and entries whose key is
    /// locked (being built or loaded for repair). Returns what it removed.
    @discardableResult
    public func evict(toBudget budget: Int, protecting: Set<String> = []) throws -> [EngineCacheEntry] {
        guard FileManager.default.fileExists(atPath: enginesDirectory) else { return [] }
        let cacheLock = try FileLock(path: cacheLockPath)
        try cacheLock.lock(exclusive: true)
        defer { cacheLock.unlock() }
        var total = usage().bytes
        guard total > budget else { return [] }
        var removed: [EngineCacheEntry] = []
        for entry in entries().reversed() where total > budget && !protecting.contains(entry.key) {
            guard let keyLock = try? FileLock(path: lockPath(entry.key)), keyLock.tryLock(exclusive: true) else { continue }
            defer { keyLock.unlock() }
            let size = (AtomicFile.size(enginePath(entry.key)) ?? 0) + (AtomicFile.size(metadataPath(entry.key)) ?? 0)
            try removeFiles(entry.key)
            total -= size
            removed.append(entry)
            Log.info("engine cache: evicted \(entry.key) (\(size) bytes, last used \(entry.lastUsed))")
        }
        if total > budget {
            Log.warning("engine cache: \(total) bytes in use, over the budget of \(budget) bytes, after evicting everything evictable")
        }
        return removed
    }

    /// What `gc` removed.
    public struct GCReport: Sendable, Codable, Equatable {
        /// Entries whose backend identity no longer matches this device.
        public var foreign: [EngineCacheEntry] = []
        /// Files of incomplete or unreadable entries, and temporary files of dead writers.
        public var leftovers: [String] = []
        /// Timing caches of identities that no longer match.
        public var timingCaches: [String] = []
        /// Bytes freed.
        public var freedBytes = 0
    }

    /// Removes temporary files whose writer process is gone (a crash or `kill -9` mid-write),
    /// without taking the cache lock: a live writer's file names a live process and is kept.
    /// Returns the paths removed. Called once when an agent starts using the cache.
    @discardableResult
    public func removeStaleTemporaries() -> [String] {
        var removed: [String] = []
        for dir in [enginesDirectory, timingDirectory] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                guard let marker = name.range(of: AtomicFile.temporaryMarker) else { continue }
                let pidText = name[marker.upperBound...].split(separator: "-").first.map(String.init) ?? ""
                guard let pid = Int32(pidText), pid > 0 else { continue }
                if pid == getpid() { continue }
                if kill(pid, 0) == 0 || errno == EPERM { continue }  // the writer is alive
                if AtomicFile.remove(dir + "/" + name) { removed.append(dir + "/" + name) }
            }
        }
        if !removed.isEmpty { Log.info("engine cache: removed \(removed.count) temporary file(s) left by dead writers") }
        return removed
    }

    /// Removes entries built for identities this device no longer has (after a JetPack or
    /// TensorRT upgrade, say), incomplete entries, and temporary files left by dead writers.
    ///
    /// Only backends named in `currentIdentities` are judged: an entry of a backend with no current
    /// identity (say TensorRT while its library is missing) is kept. Holds the cache lock
    /// exclusively, so no write is in progress and every temporary file is a leftover.
    public func gc(currentIdentities: [BackendIdentity]) throws -> GCReport {
        var report = GCReport()
        guard FileManager.default.fileExists(atPath: directory) else { return report }
        try ensureDirectories()
        let cacheLock = try FileLock(path: cacheLockPath)
        try cacheLock.lock(exclusive: true)
        defer { cacheLock.unlock() }
        let judged = Set(currentIdentities.map(\.backend))
        func drop(_ path: String) {
            let size = AtomicFile.size(path) ?? 0
            if AtomicFile.remove(path) { report.freedBytes += size }
        }

        let names = (try? FileManager.default.contentsOfDirectory(atPath: enginesDirectory)) ?? []
        for name in names where name.contains(AtomicFile.temporaryMarker) {
            drop(enginesDirectory + "/" + name)
            report.leftovers.append(enginesDirectory + "/" + name)
        }
        var keys = Set<String>()
        for name in names where !name.hasPrefix(".") {
            if name.hasSuffix(".json") { keys.insert(String(name.dropLast(5))) }
            if name.hasSuffix(".engine") { keys.insert(String(name.dropLast(7))) }
        }
        for key in keys.sorted() {
            guard let keyLock = try? FileLock(path: lockPath(key)), keyLock.tryLock(exclusive: true) else { continue }
            defer { keyLock.unlock() }
            let meta = try? AtomicFile.read(metadataPath(key))
            let entry = meta.flatMap { $0 }.flatMap { try? EngineCacheEntry.decoder.decode(EngineCacheEntry.self, from: Data($0)) }
            let engineExists = AtomicFile.size(enginePath(key)) != nil
            if let entry, engineExists, entry.key == key {
                if judged.contains(entry.identity.backend), !currentIdentities.contains(entry.identity) {
                    drop(metadataPath(key))
                    drop(enginePath(key))
                    report.foreign.append(entry)
                }
            } else {
                for path in [metadataPath(key), enginePath(key)] where AtomicFile.size(path) != nil {
                    drop(path)
                    report.leftovers.append(path)
                }
            }
        }
        try EngineCacheError.io { () throws(SystemError) in try AtomicFile.syncDirectory(enginesDirectory) }

        let current = Set(currentIdentities.map(Self.timingCacheName))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: timingDirectory)) ?? [] {
            let path = timingDirectory + "/" + name
            if name.contains(AtomicFile.temporaryMarker) {
                drop(path)
                report.leftovers.append(path)
            } else if let backend = name.split(separator: "-").first, judged.contains(String(backend)),
                !current.contains(name)
            {
                drop(path)
                report.timingCaches.append(path)
            }
        }
        return report
    }

    /// Removes the entry whose key is `keyOrPrefix` (a unique prefix of at least 4 characters will do).
    @discardableResult
    public func remove(_ keyOrPrefix: String) throws -> EngineCacheEntry {
        let all = entries()
        let matches = all.filter { $0.key == keyOrPrefix } + (keyOrPrefix.count >= 4 ? all.filter {
            $0.key != keyOrPrefix && $0.key.hasPrefix(keyOrPrefix.lowercased())
        } : [])
        guard let entry = matches.first else { throw EngineCacheError.noSuchEntry(key: keyOrPrefix) }
        if matches.count > 1, entry.key != keyOrPrefix {
            throw EngineCacheError.ambiguousKey(prefix: keyOrPrefix, matches: matches.map(\.key))
        }
        let keyLock = try FileLock(path: lockPath(entry.key))
        try keyLock.lock(exclusive: true)
        defer { keyLock.unlock() }
        try removeFiles(entry.key)
        return entry
    }

    /// Where a backend identity's timing cache lives, beside the engines: `timing/<backend>-<hash>.timing`.
    ///
    /// Creates the directory. Pass it as `BuildOptions.timingCachePath`; `gc` removes timing caches
    /// of identities that no longer match, like engines.
    public func timingCachePath(for identity: BackendIdentity) throws -> String {
        try ensureDirectories()
        try EngineCacheError.io { () throws(SystemError) in try AtomicFile.createDirectory(timingDirectory) }
        return timingDirectory + "/" + Self.timingCacheName(identity)
    }

    static func timingCacheName(_ identity: BackendIdentity) -> String {
        let safe = String(identity.backend.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        return "\(safe)-\(SHA256.hex(identity.description).prefix(16)).timing"
    }
}
