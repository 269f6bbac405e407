import Foundation
import KilnCore
import Testing

@Suite struct EngineCacheTests {
    static let identity = BackendIdentity(backend: "reference", fields: ["version": "1", "cpu": "x86_64+avx2"])

    static func key(_ model: String, identity: BackendIdentity = identity) -> EngineCacheKey {
        EngineCacheKey(modelDigest: SHA256.hex(model), identity: identity, options: BuildOptions())
    }

    static func bytes(_ seed: String, _ count: Int = 4096) -> [UInt8] {
        let p = Array(SHA256.hex(seed).utf8)
        return (0..<count).map { p[$0 % p.count] &+ UInt8(truncatingIfNeeded: $0 >> 6) }
    }

    @Test func directoryFollowsSystemdThenXDGThenHome() {
        #expect(KilnDirectories(environment: [
            "CACHE_DIRECTORY": "/var/cache/kiln:/var/cache/other", "XDG_CACHE_HOME": "/x", "HOME": "/home/u",
        ]).cache == "/var/cache/kiln")
        #expect(KilnDirectories(environment: ["XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"]).cache == "/x/cache/kiln")
        #expect(KilnDirectories(environment: ["XDG_CACHE_HOME": "relative", "HOME": "/home/u"]).cache == "/home/u/.cache/kiln")
        #expect(KilnDirectories(environment: ["HOME": "/home/u"]).cache == "/home/u/.cache/kiln")
    }

    @Test func missBuildsAndStoresThenHitReturnsTheSameVerifiedBytes() throws {
        let dir = try TemporaryDirectory()
        let cache = EngineCache(directory: dir.path)
        let key = Self.key("m")
        var builds = 0
        let context = CacheEntryContext(device: "test box", profile: "cpu-only", plannedWorkspaceBytes: 1 << 20)
        let (first, o1) = try cache.lookupOrBuild(key: key, context: context) {
            builds += 1
            return EngineArtifact(bytes: Self.bytes("m"), identity: Self.identity, workspaceBytes: 1 << 20)
        }
        let (second, o2) = try cache.lookupOrBuild(key: key, context: context) {
            builds += 1
            return EngineArtifact(bytes: [], identity: Self.identity)
        }
        #expect(o1 == .miss && o2 == .hit && builds == 1)
        #expect(first.bytes == second.bytes && second.bytes == Self.bytes("m"))
        #expect(second.identity == Self.identity && second.workspaceBytes == 1 << 20)
        let entry = try #require(cache.entries().first)
        #expect(entry.key == key.digest && entry.model == key.modelDigest && entry.identity == Self.identity)
        #expect(entry.engineSHA256 == SHA256.hex(Self.bytes("m")) && entry.engineBytes == 4096)
        #expect(entry.device == "test box" && entry.profile == "cpu-only" && entry.options["precision"] == "fp32")
        #expect(entry.lastUsed >= entry.created)
        // The metadata is readable JSON with the key fields in clear text.
        let json = try String(contentsOfFile: cache.metadataPath(key.digest), encoding: .utf8)
        #expect(json.contains("\"engineSHA256\"") && json.contains("x86_64+avx2"))
        let records = cache.recentBuilds()
        #expect(records.count == 1 && records[0].result == .succeeded && records[0].workspaceBytes == 1 << 20)
    }

    @Test func corruptedEngineIsDetectedDeletedAndRebuilt() throws {
        let dir = try TemporaryDirectory()
        let cache = EngineCache(directory: dir.path)
        let key = Self.key("c")
        let build = { EngineArtifact(bytes: Self.bytes("c"), identity: Self.identity) }
        _ = try cache.lookupOrBuild(key: key, build: build)
        // Flip one byte in the middle of the engine file.
        var engine = try Data(contentsOf: URL(fileURLWithPath: cache.enginePath(key.digest)))
        engine[2000] ^= 0xFF
        try engine.write(to: URL(fileURLWithPath: cache.enginePath(key.digest)))
        guard case .corrupt(let reason) = try cache.read(key) else { Issue.record("corruption not detected"); return }
        #expect(reason.contains("sha256"))
        var rebuilt = false
        let (artifact, outcome) = try cache.lookupOrBuild(key: key) {
            rebuilt = true
            return build()
        }
        #expect(rebuilt)
        guard case .rebuiltCorrupt(let why) = outcome else { Issue.record("expected rebuiltCorrupt, got \(outcome)"); return }
        #expect(why.contains("sha256") && outcome.jsonValue == "miss")
        #expect(artifact.bytes == Self.bytes("c"))
        guard case .hit = try cache.read(key) else { Issue.record("rebuilt entry does not load"); return }
    }

    @Test func truncatedEngineAndGarbledMetadataAreCorruptAndLookupDeletesThem() throws {
        let dir = try TemporaryDirectory()
        let cache = EngineCache(directory: dir.path)
        let a = Self.key("a"), b = Self.key("b")
        _ = try cache.lookupOrBuild(key: a) { EngineArtifact(bytes: Self.bytes("a"), identity: Self.identity) }
        _ = try cache.lookupOrBuild(key: b) { EngineArtifact(bytes: Self.bytes("b"), identity: Self.identity) }
        try Data(Self.bytes("a").prefix(100)).write(to: URL(fileURLWithPath: cache.enginePath(a.digest)))
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: cache.metadataPath(b.digest)))
        for key in [a, b] {
            guard case .corrupt = try cache.read(key) else { Issue.record("\(key) not corrupt"); continue }
            #expect(try cache.lookup(key) == nil)
            #expect(!FileManager.default.fileExists(atPath: cache.enginePath(key.digest)))
            #expect(!FileManager.default.fileExists(atPath: cache.metadataPath(key.digest)))
        }
    }

    @Test func lruEvictionRemovesTheLeastRecentlyUsedEntriesToFitTheBudget() throws {
        let dir = try TemporaryDirectory()
        // Each entry is a 100 000-byte engine plus ~1 KB of metadata; the budget holds three.
        let cache = EngineCache(directory: dir.path, budgetBytes: 310_000)
        func put(_ name: String) throws -> CacheOutcome {
            usleep(5000)  // distinct lastUsed timestamps
            return try cache.lookupOrBuild(key: Self.key(name)) {
                EngineArtifact(bytes: Self.bytes(name, 100_000), identity: Self.identity)
            }.outcome
        }
        for name in ["a", "b", "c"] { #expect(try put(name) == .miss) }
        // Use "a" so "b" becomes the least recently used.
        usleep(5000)
        #expect(try cache.lookup(Self.key("a")) != nil)
        #expect(try put("d") == .miss)
        let keys = Set(cache.entries().map(\.key))
        #expect(keys == Set(["a", "c", "d"].map { Self.key($0).digest }))
        #expect(cache.usage().bytes <= 310_000)
        // Then "c" is the oldest.
        #expect(try put("e") == .miss)
        #expect(Set(cache.entries().map(\.key)) == Set(["a", "d", "e"].map { Self.key($0).digest }))
        #expect(try put("b") == .miss, "an evicted entry is rebuilt")
    }

    @Test func entryLargerThanTheBudgetIsKeptAlone() throws {
        let dir = try TemporaryDirectory()
        let cache = EngineCache(directory: dir.path, budgetBytes: 1000)
        _ = try cache.lookupOrBuild(key: Self.key("old")) { EngineArtifact(bytes: Self.bytes("old", 900), identity: Self.identity) }
        _ = try cache.lookupOrBuild(key: Self.key("big")) { EngineArtifact(bytes: Self.bytes("big", 5000), identity: Self.identity) }
        #expect(cache.entries().map(\.key) == [Self.key("big").digest])
    }

    @Test func gcRemovesEntriesWhoseIdentityNoLongerMatchesThisDevice() throws {
        let dir = try TemporaryDirectory()
        let cache = EngineCache(directory: dir.path)
        let jp5 = BackendIdentity(backend: "tensorrt", fields: ["tensorrt": "8.5.2", "cuda": "11.4", "sm": "8.7", "device": "Orin"])
        let jp6 = BackendIdentity(backend: "tensorrt", fields: ["tensorrt": "10.3.0", "cuda": "12.6", "sm": "8.7", "device": "Orin"])
        let other = BackendIdentity(backend: "otherbackend", fields: ["v": "1"])
        for (name, id) in [("old", jp5), ("new", jp6), ("ref", Self.identity), ("unjudged", other)] {
            _ = try cache.lookupOrBuild(key: Self.key(name, identity: id)) { EngineArtifact(bytes: Self.bytes(name), identity: id) }
        }
        let oldTiming = try cache.timingCachePath(for: jp5), newTiming = try cache.timingCachePath(for: jp6)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: oldTiming))
        try Data([4, 5, 6]).write(to: URL(fileURLWithPath: newTiming))
        #expect(oldTiming != newTiming)
        // Leftovers of dead writers: a temp file and an engine without metadata.
        let tempPath = cache.enginePath("x").replacingOccurrences(of: "/x.engine", with: "/.deadbeef.engine.tmp-99999-1")
        try Data([0]).write(to: URL(fileURLWithPath: tempPath))
        try Data([0]).write(to: URL(fileURLWithPath: cache.enginePath(String(repeating: "0", count: 64))))

        let report = try cache.gc(currentIdentities: [jp6, Self.identity])
        #expect(report.foreign.map(\.identity) == [jp5])
        #expect(Set(report.leftovers) == [tempPath, cache.enginePath(String(repeating: "0", count: 64))])
        #expect(report.timingCaches == [oldTiming])
        #expect(report.freedBytes > 4096)
        #expect(try cache.lookup(Self.key("old", identity: jp5)) == nil)
        #expect(try cache.lookup(Self.key("new", identity: jp6)) != nil)
        #expect(try cache.lookup(Self.key("ref")) != nil)
        #expect(try cache.lookup(Self.key("unjudged", identity: other)) != nil, "backends with no current identity are kept")
        #expect(FileManager.default.fileExists(atPath: newTiming))
        #expect(!FileManager.default.fileExists(atPath: tempPath))
    }

    @Test func removeTakesAUniquePrefixAndRejectsUnknownKeys() throws {
        let dir = try TemporaryDirectory()
        let cache = EngineCache(directory: dir.path)
        let key = Self.key("r")
        _ = try cache.lookupOrBuild(key: key) { EngineArtifact(bytes: Self.bytes("r"), identity: Self.identity) }
        let error = #expect(throws: EngineCacheError.self) { try cache.remove("ffffffffffff") }
        #expect(error?.exitCode == .usage)
        #expect(try cache.remove(String(key.digest.prefix(10))).key == key.digest)
        #expect(cache.entries().isEmpty)
    }

    @Test func failedBuildIsRecordedAndStoresNothing() throws {
        let dir = try TemporaryDirectory()
        let cache = EngineCache(directory: dir.path)
        struct Boom: Error, CustomStringConvertible { var description: String { "out of memory at 768 MiB" } }
        #expect(throws: Boom.self) {
            try cache.lookupOrBuild(key: Self.key("f"), context: CacheEntryContext(plannedWorkspaceBytes: 768 << 20)) {
                throw Boom()
            }
        }
        #expect(cache.entries().isEmpty)
        let record = try #require(cache.recentBuilds().last)
        #expect(record.result == .failed && record.error == "out of memory at 768 MiB")
        #expect(record.workspaceTriedBytes == [768 << 20])
    }

    @Test func buildForAnotherIdentityIsRefused() throws {
        let dir = try TemporaryDirectory()
        let cache = EngineCache(directory: dir.path)
        let wrong = BackendIdentity(backend: "reference", fields: ["version": "2"])
        #expect(throws: EngineCacheError.self) {
            try cache.lookupOrBuild(key: Self.key("w")) { EngineArtifact(bytes: [1], identity: wrong) }
        }
        #expect(cache.entries().isEmpty)
    }

    @Test func buildRecordsKeepOnlyTheNewest() throws {
        let dir = try TemporaryDirectory()
        var cache = EngineCache(directory: dir.path)
        cache.buildRecordLimit = 3
        for i in 0..<5 {
            cache.recordBuild(BuildRecord(key: "k\(i)", model: "m", backend: "b", profile: nil, result: .succeeded,
                                          error: nil, workspaceTriedBytes: [], workspaceBytes: 0, seconds: 0))
        }
        #expect(cache.recentBuilds().map(\.key) == ["k2", "k3", "k4"])
    }
}

@Suite struct EngineCacheUnwritableTests {
    @Test func unwritableCacheStillBuildsAndReturnsTheEngineUncached() throws {
        let dir = try TemporaryDirectory()
        // A regular file where the cache directory should be: nothing can be created under it.
        let blocker = dir.path + "/not-a-directory"
        try Data([0]).write(to: URL(fileURLWithPath: blocker))
        let cache = EngineCache(directory: blocker + "/kiln")
        let key = EngineCacheTests.key("u")
        let (artifact, outcome) = try cache.lookupOrBuild(key: key) {
            EngineArtifact(bytes: [9, 9, 9], identity: EngineCacheTests.identity)
        }
        #expect(artifact.bytes == [9, 9, 9])
        guard case .uncached(let reason) = outcome else { Issue.record("expected uncached, got \(outcome)"); return }
        #expect(reason.contains(blocker))
        #expect(outcome.jsonValue == "miss")
    }
}
