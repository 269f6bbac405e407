// kiln-cache-probe: a child process for EngineCacheProcessTests.
//
//   kiln-cache-probe build CACHE_DIR SEED SLEEP_MS SIZE LOG
//       lookupOrBuild of the probe key for SEED; the build sleeps SLEEP_MS, appends "built <pid>"
//       to LOG and returns SIZE deterministic bytes. Prints "outcome=<hit|miss|rebuilt-corrupt> sha=<hex>".
//   kiln-cache-probe hang CACHE_DIR SEED SIZE STAGE
//       builds and stores the probe key, but at write stage STAGE prints "reached STAGE" and
//       sleeps until killed (the test sends SIGKILL).
import Foundation
import Glibc
import KilnCore

/// The key the probe builds for `seed`.
func probeKey(_ seed: String) -> EngineCacheKey {
    EngineCacheKey(
        modelDigest: SHA256.hex(seed), identity: BackendIdentity(backend: "probe", fields: ["version": "1"]),
        options: BuildOptions())
}

/// SIZE bytes that depend on SEED.
func probeBytes(_ seed: String, _ size: Int) -> [UInt8] {
    let pattern = Array(SHA256.hex(seed).utf8)
    return (0..<size).map { pattern[$0 % pattern.count] &+ UInt8(truncatingIfNeeded: $0 / pattern.count) }
}

/// Prints `message` and exits with status 2.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("kiln-cache-probe: \(message)\n".utf8))
    exit(2)
}

let args = Array(CommandLine.arguments.dropFirst())
guard let mode = args.first else { fail("usage: kiln-cache-probe build|hang ...") }
do {
    switch mode {
    case "build" where args.count == 6:
        let (dir, seed, sleepMS, size, log) = (args[1], args[2], Int(args[3]) ?? 0, Int(args[4]) ?? 0, args[5])
        let cache = EngineCache(directory: dir)
        let key = probeKey(seed)
        let (artifact, outcome) = try cache.lookupOrBuild(key: key) {
            usleep(UInt32(sleepMS * 1000))
            let line = "built \(getpid())\n"
            let fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            _ = line.withCString { write(fd, $0, strlen($0)) }
            close(fd)
            return EngineArtifact(bytes: probeBytes(seed, size), identity: key.identity, workspaceBytes: 1 << 20)
        }
        print("outcome=\(outcome) sha=\(SHA256.hex(artifact.bytes))")
    case "hang" where args.count == 5:
        let (dir, seed, size, stageName) = (args[1], args[2], Int(args[3]) ?? 0, args[4])
        guard let stage = CacheWriteStage(rawValue: stageName) else { fail("unknown stage \(stageName)") }
        var cache = EngineCache(directory: dir)
        cache.writeObserver = { reached in
            guard reached == stage else { return }
            let line = "reached \(reached.rawValue)\n"
            _ = line.withCString { write(1, $0, strlen($0)) }
            while true { pause() }
        }
        let key = probeKey(seed)
        _ = try cache.lookupOrBuild(key: key) {
            EngineArtifact(bytes: probeBytes(seed, size), identity: key.identity)
        }
        print("finished without reaching \(stageName)")
    default:
        fail("bad arguments: \(args)")
    }
} catch {
    fail("\(error)")
}
