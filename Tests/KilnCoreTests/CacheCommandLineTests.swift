import Foundation
import KilnCore
import KilnTestSupport
import Testing

/// `kiln doctor` and `kiln cache` run as a user runs them: the built `kiln` executable.
@Suite struct CacheCommandLineTests {
    /// The built `kiln`, or nil (skip) when it was not built; CI (`CI=true`) fails instead.
    static func kiln() -> String? {
        let path = TestEnvironment.kilnExecutable
        if FileManager.default.isExecutableFile(atPath: path) { return path }
        if TestEnvironment.isCI { Issue.record("kiln executable missing at \(path); run `bash Tests/run.sh`") }
        return nil
    }

    static func json(_ text: String) throws -> [String: Any] {
        let line = try #require(text.split(separator: "\n").last)
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func doctorShowsProfileWorkspaceArithmeticAndWhyBackendsAreUnavailable() throws {
        guard let kiln = Self.kiln() else { return }
        let dir = try TemporaryDirectory()
        let sysroot = Repository.fixtures.appendingPathComponent("orin-nano-4gb").path
        let result = try TestEnvironment.run(kiln, ["doctor", "--json", "--sysroot", sysroot, "--cache-dir", dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try Self.json(result.stdout)
        #expect((report["profile"] as? [String: Any])?["name"] as? String == "orin-nano-4gb")
        #expect(report["profileReason"] as? String == "device-tree-model")
        #expect(report["jetPack"] as? String == "6.2")
        let workspace = try #require(report["workspace"] as? [String: Any])
        #expect(workspace["workspaceBytes"] as? Int == 768 << 20)
        #expect(workspace["reserveBytes"] as? Int == 1024 << 20)
        #expect(workspace["availableBytes"] as? Int == 2_211_708 * 1024)
        #expect(workspace["limitedBy"] as? String == "profile-cap")
        let backends = try #require(report["backends"] as? [[String: Any]])
        #expect(backends.first { $0["name"] as? String == "reference" }?["available"] as? Bool == true)
        if let trt = backends.first(where: { $0["name"] as? String == "tensorrt" }), trt["available"] as? Bool == false {
            let detail = trt["detail"] as? String ?? ""
            #expect(detail.hasPrefix("TensorRT not found") && detail.contains("libnvinfer"), "doctor names what is missing: \(detail)")
        }
        // The text form carries the same arithmetic.
        let text = try TestEnvironment.run(kiln, ["doctor", "--sysroot", sysroot, "--cache-dir", dir.path])
        #expect(text.stdout.contains("min(cap 768 MiB, MemAvailable 2159 MiB − reserve 1024 MiB = 1135 MiB) = 768 MiB"))
        #expect(text.stdout.contains("orin-nano-4gb (Jetson Orin Nano 4 GB), chosen by device-tree-model"))
    }

    @Test func doctorProfileOverrideAndUnknownProfileExitCodes() throws {
        guard let kiln = Self.kiln() else { return }
        let dir = try TemporaryDirectory()
        let ok = try TestEnvironment.run(kiln, ["doctor", "--json", "--profile", "thor", "--cache-dir", dir.path])
        #expect(ok.status == 0)
        #expect((try Self.json(ok.stdout)["profile"] as? [String: Any])?["name"] as? String == "thor")
        let bad = try TestEnvironment.run(kiln, ["doctor", "--profile", "orin-nano-2gb"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("unknown device profile \"orin-nano-2gb\""))
    }

    @Test func cacheLsRmPathAndGcWorkOnARealCache() throws {
        guard let kiln = Self.kiln() else { return }
        let dir = try TemporaryDirectory()
        let cache = EngineCache(directory: dir.path)
        // A backend kiln does not have: `gc` has no current identity for it and must keep it.
        let identity = BackendIdentity(backend: "probe", fields: ["version": "1"])
        let key = EngineCacheKey(modelDigest: SHA256.hex("cli model"), identity: identity, options: BuildOptions())
        _ = try cache.lookupOrBuild(key: key, context: CacheEntryContext(profile: "cpu-only")) {
            EngineArtifact(bytes: Array(repeating: 7, count: 5000), identity: identity)
        }
        let path = try TestEnvironment.run(kiln, ["cache", "path", "--cache-dir", dir.path])
        #expect(path.stdout == dir.path + "\n")
        let ls = try TestEnvironment.run(kiln, ["cache", "ls", "--json", "--cache-dir", dir.path])
        #expect(ls.status == 0)
        let entries = try #require(try Self.json(ls.stdout)["entries"] as? [[String: Any]])
        #expect(entries.map { $0["key"] as? String } == [key.digest])
        #expect(entries.first?["engineBytes"] as? Int == 5000)
        let text = try TestEnvironment.run(kiln, ["cache", "ls", "--cache-dir", dir.path])
        #expect(text.stdout.contains(String(key.digest.prefix(12))) && text.stdout.contains("probe"))

        // gc removes a dead writer's temporary file and an engine of an older reference backend,
        // and keeps the entry of the backend it cannot judge.
        let leftover = dir.path + "/engines/.\(key.digest).engine.tmp-999999-1"
        try Data([1]).write(to: URL(fileURLWithPath: leftover))
        let old = BackendIdentity(backend: "reference", fields: ["version": "0.0-old", "cpu": "none"])
        let oldKey = EngineCacheKey(modelDigest: SHA256.hex("cli model"), identity: old, options: BuildOptions())
        _ = try cache.lookupOrBuild(key: oldKey) { EngineArtifact(bytes: [1, 2, 3], identity: old) }
        #expect(cache.entries().count == 2)
        let gc = try TestEnvironment.run(kiln, ["cache", "gc", "--cache-dir", dir.path])
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(gc.stdout.contains("removed leftover \(leftover)"))
        #expect(gc.stdout.contains("removed \(oldKey.digest.prefix(12)) (built for reference"))
        #expect(!FileManager.default.fileExists(atPath: leftover))
        #expect(cache.entries().count == 1)

        let missing = try TestEnvironment.run(kiln, ["cache", "rm", "ffffffff", "--cache-dir", dir.path])
        #expect(missing.status == 2 && missing.stderr.contains("kiln cache ls"))
        let rm = try TestEnvironment.run(kiln, ["cache", "rm", String(key.digest.prefix(8)), "--cache-dir", dir.path])
        #expect(rm.status == 0 && rm.stdout == "removed \(key.digest)\n")
        #expect(cache.entries().isEmpty)
        let unknown = try TestEnvironment.run(kiln, ["cache", "frob"])
        #expect(unknown.status == 2)
    }
}
