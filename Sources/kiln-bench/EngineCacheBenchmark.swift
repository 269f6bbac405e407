import Foundation
import KilnCore

/// `kiln-bench engine-cache [--mib N] [--iterations N]`: the engine cache's store (miss) and
/// verified load (hit) of an N MiB engine, beside coreutils doing the same I/O and hashing
/// (`dd conv=fsync`, `sha256sum`) on the same disk.
enum EngineCacheBenchmark: Benchmark {
    static let name = "engine-cache"
    static let summary = "Engine cache store and verified load vs dd conv=fsync and sha256sum"

    static func run(_ arguments: [String]) async throws {
        let mib = BenchSupport.option(arguments, "--mib").flatMap(Int.init) ?? 64
        let iterations = BenchSupport.option(arguments, "--iterations").flatMap(Int.init) ?? 5
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-bench-cache-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = EngineCache(directory: dir, budgetBytes: Int.max)
        var bytes = [UInt8](repeating: 0, count: mib << 20)
        for i in stride(from: 0, to: bytes.count, by: 4096) { bytes[i] = UInt8(truncatingIfNeeded: i >> 12) }
        let identity = BackendIdentity(backend: "bench", fields: ["version": "1"])
        var n = 0
        func key(_ i: Int) -> EngineCacheKey {
            EngineCacheKey(modelDigest: SHA256.hex("bench \(i)"), identity: identity, options: BuildOptions())
        }

        // Store: a miss whose build returns ready bytes, so only hashing, locking and durable writes count.
        let store = try BenchSupport.time(iterations: iterations, warmup: 1) {
            n += 1
            _ = try cache.lookupOrBuild(key: key(n)) { EngineArtifact(bytes: bytes, identity: identity) }
        }
        // Load: a hit on the last entry: read, sha256 verification, last-used update.
        let load = try BenchSupport.time(iterations: iterations, warmup: 1) {
            let (_, outcome) = try cache.lookupOrBuild(key: key(n)) { EngineArtifact(bytes: [], identity: identity) }
            precondition(outcome == .hit)
        }
        let hash = BenchSupport.time(iterations: iterations, warmup: 1) { _ = SHA256.hex(bytes) }

        let file = cache.enginePath(key(n).digest)
        func shell(_ command: String) throws {
            var output: [String] = []
            let exit = try Subprocess.run("/bin/sh", ["-c", command], processGroup: .own, timeout: 600) { output.append($0) }
            guard exit == .exited(0) else {
                throw RuntimeError("engine-cache: the baseline `\(command)` \(exit): \(output.suffix(3).joined(separator: " "))")
            }
        }
        let ddStore = try BenchSupport.time(iterations: iterations, warmup: 1) {
            try shell("dd if='\(file)' of='\(dir)/dd.out' bs=1M conv=fsync")
        }
        let shaLoad = try BenchSupport.time(iterations: iterations, warmup: 1) { try shell("sha256sum '\(file)'") }

        func row(_ what: String, _ kiln: Double, _ other: Double, _ otherName: String) {
            let mbps = { (s: Double) in String(format: "%7.0f MB/s", Double(mib << 20) / s / 1e6) }
            print("\(what.padding(toLength: 34, withPad: " ", startingAt: 0)) \(String(format: "%8.1f ms", kiln * 1e3)) \(mbps(kiln))   \(otherName.padding(toLength: 22, withPad: " ", startingAt: 0)) \(String(format: "%8.1f ms", other * 1e3)) \(mbps(other))")
        }
        print("engine cache, \(mib) MiB engine, median of \(iterations), directory \(dir)")
        print("\("operation".padding(toLength: 34, withPad: " ", startingAt: 0)) \("Kiln".padding(toLength: 23, withPad: " ", startingAt: 0))   baseline")
        row("store (miss: sha256 + atomic write)", store, ddStore, "dd conv=fsync")
        row("load (hit: read + sha256 verify)", load, shaLoad, "sha256sum")
        row("sha256 only (in memory)", hash, shaLoad, "sha256sum (from disk)")
    }
}
