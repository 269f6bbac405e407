import Glibc
import KilnSystem
import Testing

@Suite struct AtomicFileTests {
    static func temporaryDirectory() -> String {
        var template = Array("/tmp/kiln-system-test-XXXXXX".utf8CString)
        return String(cString: mkdtemp(&template)!)
    }

    @Test func writeCreatesParentsReplacesWholeAndLeavesNoTemporaryFile() throws {
        let dir = Self.temporaryDirectory()
        let path = dir + "/a/b/file"
        try AtomicFile.write(Array("old".utf8), to: path)
        try AtomicFile.write(Array(repeating: 7, count: 3 << 20), to: path, chunkSize: 1 << 20)
        #expect(try AtomicFile.read(path) == Array(repeating: 7, count: 3 << 20))
        let names = try #require(try? listDirectory(dir + "/a/b"))
        #expect(names == ["file"])
    }

    @Test func failedWriteLeavesTheOldFileAndNamesThePath() throws {
        let dir = Self.temporaryDirectory()
        let path = dir + "/file"
        try AtomicFile.write(Array("old".utf8), to: path)
        // A directory where the temporary file's parent should be: the write fails before the rename.
        #expect { try AtomicFile.write(Array("new".utf8), to: path + "/child") } throws: { "\($0)".contains(path) }
        #expect(try AtomicFile.read(path) == Array("old".utf8))
    }

    @Test func copyReturnsTheSHA256OfWhatItCopied() throws {
        let dir = Self.temporaryDirectory()
        let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try AtomicFile.write(bytes, to: dir + "/src")
        let digest = try AtomicFile.copy(dir + "/src", to: dir + "/dst")
        #expect(digest == SHA256.hex(bytes))
        #expect(try AtomicFile.read(dir + "/dst") == bytes)
        #expect(try AtomicFile.read(dir + "/missing") == nil)
    }

    func listDirectory(_ path: String) throws -> [String] {
        guard let d = opendir(path) else { throw SystemError("open directory", path: path, errno: .current) }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

@Suite struct KilnDirectoriesTests {
    @Test func eachKindFollowsSystemdThenAbsoluteXDGThenHome() {
        let systemd = KilnDirectories(environment: [
            "CACHE_DIRECTORY": "/var/cache/kiln:/other", "STATE_DIRECTORY": "/var/lib/kiln",
            "CONFIGURATION_DIRECTORY": "/etc/kiln", "XDG_CACHE_HOME": "/x", "HOME": "/h",
        ])
        #expect(systemd.cache == "/var/cache/kiln" && systemd.state == "/var/lib/kiln" && systemd.configuration == "/etc/kiln")
        #expect(systemd.store == "/var/cache/kiln/models" && systemd.kernels == "/var/cache/kiln/kernels")
        let xdg = KilnDirectories(environment: ["XDG_CACHE_HOME": "/c", "XDG_STATE_HOME": "/s", "XDG_CONFIG_HOME": "rel", "HOME": "/h"])
        #expect(xdg.cache == "/c/kiln" && xdg.state == "/s/kiln" && xdg.configuration == "/h/.config/kiln")
        let home = KilnDirectories(environment: ["HOME": "/h"])
        #expect(home.cache == "/h/.cache/kiln" && home.state == "/h/.local/state/kiln")
        let overridden = KilnDirectories(environment: ["KILN_CACHE_DIR": "/k", "KILN_STORE": "/m", "HOME": "/h"])
        #expect(overridden.cache == "/k" && overridden.store == "/m" && overridden.kernels == "/k/kernels")
    }
}

@Suite struct PercentileTests {
    @Test func nearestRankPicksASampleNeverInterpolates() {
        let samples = (1...100).map(Double.init).shuffled()
        #expect(Percentile.nearestRank(99, of: samples) == 99)
        #expect(Percentile.nearestRank(50, of: samples) == 50)
        #expect(Percentile.nearestRank(100, of: samples) == 100)
        #expect(Percentile.nearestRank(0, of: samples) == 1)
        #expect(Percentile.nearestRank(99, of: [3, 1]) == 3)
        #expect(Percentile.nearestRank(99, of: []) == nil)
    }
}
