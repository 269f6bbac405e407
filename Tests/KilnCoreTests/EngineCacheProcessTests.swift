import Foundation
import Glibc
import KilnCore
import Testing

/// Engine cache behaviour across real processes (`kiln-cache-probe` children).
@Suite struct EngineCacheProcessTests {
    /// The probe executable SwiftPM builds beside the test bundle.
    static var probe: String? {
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
                          Repository.root.appendingPathComponent(".build/debug")]
        return candidates.map { $0.appendingPathComponent("kiln-cache-probe").path }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Same key and bytes as the probe's.
    static func probeKey(_ seed: String) -> EngineCacheKey {
        EngineCacheKey(modelDigest: SHA256.hex(seed), identity: BackendIdentity(backend: "probe", fields: ["version": "1"]),
                       options: BuildOptions())
    }

    static func start(_ arguments: [String]) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(probe, "kiln-cache-probe was not built"))
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        try process.run()
        return (process, out)
    }

    @Test func twoProcessesBuildingTheSameKeyEndWithOneBuildAndOneValidEntry() throws {
        let dir = try TemporaryDirectory()
        let cacheDir = dir.path + "/cache", log = dir.path + "/builds.log"
        let size = 3 << 20
        // Both start at once; each build takes 1.5 s, so the second must wait on the key's lock.
        let children = try (0..<2).map { _ in try Self.start(["build", cacheDir, "shared", "1500", String(size), log]) }
        var outputs: [String] = []
        for (process, pipe) in children {
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            outputs.append(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let builds = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(builds.count == 1, "exactly one process built: \(builds)")
        #expect(outputs.filter { $0.hasPrefix("outcome=miss") }.count == 1, "\(outputs)")
        #expect(outputs.filter { $0.hasPrefix("outcome=hit") }.count == 1, "\(outputs)")
        #expect(Set(outputs.map { $0.split(separator: " ").last! }).count == 1, "both got the same engine")
        let cache = EngineCache(directory: cacheDir)
        guard case .hit(let artifact, _) = try cache.read(Self.probeKey("shared")) else {
            Issue.record("no valid entry after the concurrent builds")
            return
        }
        #expect(artifact.bytes.count == size)
        #expect(cache.entries().count == 1)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cacheDir + "/engines").filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "no temporary files left: \(leftovers)")
    }

    @Test(arguments: [
        CacheWriteStage.engineTempPartiallyWritten, .engineTempWritten, .engineInstalled, .metadataTempWritten,
    ])
    func processKilledMidWriteLeavesNothingThatLoads(stage: CacheWriteStage) throws {
        let dir = try TemporaryDirectory()
        let cacheDir = dir.path + "/cache"
        let (process, pipe) = try Self.start(["hang", cacheDir, "killed", String((2 << 20) + 1), stage.rawValue])
        // Wait for the child to reach the stage (it prints one line, then sleeps until killed).
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("\n") {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        #expect(String(decoding: seen, as: UTF8.self) == "reached \(stage.rawValue)\n")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)

        let cache = EngineCache(directory: cacheDir)
        let key = Self.probeKey("killed")
        if case .hit = try cache.read(key) { Issue.record("a half-written entry loads after SIGKILL at \(stage)") }
        #expect(try cache.lookup(key) == nil)
        // The key's lock died with the process: a new build proceeds and stores a valid entry.
        let (artifact, outcome) = try cache.lookupOrBuild(key: key) {
            EngineArtifact(bytes: [1, 2, 3], identity: key.identity)
        }
        #expect(outcome == .miss && artifact.bytes == [1, 2, 3])
        guard case .hit = try cache.read(key) else { Issue.record("rebuilt entry does not load"); return }
        // gc clears what the killed writer left behind.
        _ = try cache.gc(currentIdentities: [key.identity])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cacheDir + "/engines").filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "gc removed the dead writer's temporary files: \(leftovers)")
    }
}
