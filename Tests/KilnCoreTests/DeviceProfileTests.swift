import Foundation
@testable import KilnCore
import Testing

/// The repository root and fixture directory, found from this file's path.
enum Repository {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let root = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = testsDirectory.appendingPathComponent("Fixtures")
    static let profiles = root.appendingPathComponent("Profiles")
}

@Suite struct ProfileEmbeddingTests {
    @Test func everyProfilesFileIsCompiledInByteForByteAndDecodes() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Repository.profiles.path).filter { $0.hasSuffix(".json") }
        #expect(DeviceProfile.embeddedJSON.count == files.count, "DeviceProfile+Embedded.swift lists \(DeviceProfile.embeddedJSON.count) profiles, Profiles/ holds \(files.count)")
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: Repository.profiles.appendingPathComponent(file)))
            #expect(DeviceProfile.embeddedJSON.contains(bytes), "Profiles/\(file) is not compiled in: list it in DeviceProfile+Embedded.swift")
        }
        let names = try ProfileCatalog.embedded().profiles.map(\.name)
        #expect(names == files.map { String($0.dropLast(5)) }.sorted())
    }
}

@Suite struct DeviceProfileTests {
    @Test func everyProfileTheIssueNamesIsEmbeddedAndDecodes() throws {
        let catalog = try ProfileCatalog.embedded()
        #expect(catalog.profiles.map(\.name) == [
            "agx-orin-32gb", "agx-orin-64gb", "agx-xavier", "cpu-only", "generic-discrete", "jetson-nano-4gb",
            "jetson-tx2", "orin-nano-4gb", "orin-nano-8gb", "orin-nx-16gb", "orin-nx-8gb", "thor", "xavier-nx",
        ])
    }

    @Test func profilesCarryTheRealHardwareNumbers() throws {
        let c = try ProfileCatalog.embedded()
        func p(_ n: String) throws -> DeviceProfile { try c.profile(named: n) }
        #expect(try p("jetson-nano-4gb").sm == "5.3")
        #expect(try p("jetson-tx2").sm == "6.2")
        #expect(try p("xavier-nx").sm == "7.2" && p("xavier-nx").dlaCores == 2)
        #expect(try p("agx-xavier").sm == "7.2" && p("agx-xavier").dlaCores == 2)
        for n in ["orin-nano-4gb", "orin-nano-8gb"] { #expect(try p(n).sm == "8.7" && p(n).dlaCores == 0) }
        for n in ["orin-nx-16gb", "agx-orin-32gb", "agx-orin-64gb"] { #expect(try p(n).sm == "8.7" && p(n).dlaCores == 2) }
        #expect(try p("orin-nx-8gb").dlaCores == 1)
        #expect(try p("thor").sm == "11.0")
        for profile in c.profiles where profile.name.hasPrefix("orin") || profile.name.hasPrefix("agx") || profile.name.hasPrefix("jetson") || profile.name == "xavier-nx" || profile.name == "thor" {
            #expect(profile.unifiedMemory, "\(profile.name) is a Jetson: memory is unified")
            #expect(profile.match.deviceTreeModel?.isEmpty == false)
        }
        // The 4 GB boards keep cuBLAS/cuDNN tactics off and never build while serving.
        for n in ["jetson-nano-4gb", "orin-nano-4gb"] {
            let profile = try p(n)
            #expect(profile.tacticSources == TacticSources(cublas: false, cublasLt: false, cudnn: false))
            #expect(!profile.buildWhileServing)
        }
        #expect(try p("cpu-only").defaultPrecision == .fp32)
        #expect(try p("cpu-only").tacticSources == nil)
    }

    @Test func unknownProfileNameIsAUsageErrorListingTheNames() throws {
        let catalog = try ProfileCatalog.embedded()
        let error = #expect(throws: ProfileError.self) { try catalog.profile(named: "orin-nano-2gb") }
        #expect(error?.exitCode == .usage)
        #expect(error?.description.contains("orin-nano-4gb") == true)
        #expect(error?.description.contains("\"orin-nano-2gb\"") == true)
    }

    @Test func profilesDirectoryOverlaysAndReplacesEmbeddedProfiles() throws {
        let dir = try TemporaryDirectory()
        var custom = try ProfileCatalog.embedded().profile(named: "orin-nano-8gb")
        custom.workspaceCapMiB = 999
        let encoder = JSONEncoder()
        try encoder.encode(custom).write(to: dir.url.appendingPathComponent("orin-nano-8gb.json"))
        custom.name = "my-board"
        custom.match = MatchRules(deviceTreeModel: ["My Board"])
        try encoder.encode(custom).write(to: dir.url.appendingPathComponent("my-board.json"))
        let catalog = try ProfileCatalog.embedded(overlaidWith: dir.url.path)
        #expect(try catalog.profile(named: "orin-nano-8gb").workspaceCapMiB == 999)
        #expect(try catalog.profile(named: "my-board").workspaceCapMiB == 999)
        #expect(catalog.profiles.count == 14)
        #expect(catalog.select(for: DeviceFacts(deviceTreeModel: "Acme My Board v2")).0.name == "my-board")
    }

    @Test func malformedProfileFileIsRejectedNamingFileAndField() throws {
        let dir = try TemporaryDirectory()
        let path = dir.url.appendingPathComponent("bad.json")
        try Data(#"{"name": "bad", "displayName": "Bad"}"#.utf8).write(to: path)
        let error = #expect(throws: ProfileError.self) { try ProfileCatalog.load(directory: dir.url.path) }
        #expect(error?.description.contains(path.path) == true)
        #expect(error?.description.contains("missing field") == true)
        let missing = #expect(throws: ProfileError.self) { try ProfileCatalog.load(directory: dir.url.path + "/nope") }
        #expect(missing?.description.contains("--profiles-dir") == true)
    }
}

/// A temporary directory removed when the value goes away.
final class TemporaryDirectory {
    let url: URL
    var path: String { url.path }
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-core-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
}
