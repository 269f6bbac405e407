import Foundation

/// The set of device profiles detection chooses from: the embedded ones, optionally overlaid with
/// a directory of JSON files (`--profiles-dir`).
public struct ProfileCatalog: Sendable {
    /// All profiles, sorted by name.
    public private(set) var profiles: [DeviceProfile]

    /// Creates a catalog from profiles (later ones replace earlier ones of the same name).
    public init(_ profiles: [DeviceProfile]) {
        var byName: [String: DeviceProfile] = [:]
        for p in profiles { byName[p.name] = p }
        self.profiles = byName.values.sorted { $0.name < $1.name }
    }

    /// The profiles compiled into the binary (the repository's `Profiles/*.json`).
    public static func embedded() throws -> ProfileCatalog {
        try ProfileCatalog(DeviceProfile.embeddedJSON.enumerated().map { index, json in
            try DeviceProfile.decode(json, source: "embedded profile \(index + 1) of \(DeviceProfile.embeddedJSON.count)")
        })
    }

    /// The embedded profiles overlaid with every `*.json` in `directory` (same name replaces).
    ///
    /// Throws `ProfileError` naming the directory or file that cannot be read or decoded.
    public static func embedded(overlaidWith directory: String?) throws -> ProfileCatalog {
        let base = try embedded()
        guard let directory else { return base }
        return ProfileCatalog(base.profiles + (try load(directory: directory)))
    }

    /// Decodes every `*.json` file in `directory`.
    public static func load(directory: String) throws -> [DeviceProfile] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw ProfileError.unreadableDirectory(path: directory, reason: "\(error.localizedDescription)")
        }
        return try names.filter { $0.hasSuffix(".json") }.sorted().map { file in
            let path = directory + "/" + file
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ProfileError.invalidProfile(source: path, reason: "cannot be read")
            }
            let profile = try DeviceProfile.decode(Array(data), source: path)
            guard profile.name + ".json" == file else {
                throw ProfileError.invalidProfile(
                    source: path, reason: "its name \"\(profile.name)\" must equal the file name without .json")
            }
            return profile
        }
    }

    /// The profile called `name`; a `ProfileError.unknownProfile` listing the names otherwise.
    public func profile(named name: String) throws -> DeviceProfile {
        guard let p = profiles.first(where: { $0.name == name }) else {
            throw ProfileError.unknownProfile(name: name, available: profiles.map(\.name))
        }
        return p
    }

    /// The best profile for `facts` and why: a device-tree model match beats a compute-capability
    /// match, which beats the GPU kind, which beats the fallback; ties go to the narrowest memory
    /// range, then the name.
    public func select(for facts: DeviceFacts) -> (DeviceProfile, MatchReason) {
        let candidates = profiles.compactMap { p in p.matches(facts).map { (p, $0) } }
        let best = candidates.min { a, b in
            if a.1 != b.1 { return a.1 < b.1 }
            let wa = a.0.match.memoryTotalMiB?.width ?? Int.max, wb = b.0.match.memoryTotalMiB?.width ?? Int.max
            if wa != wb { return wa < wb }
            return a.0.name < b.0.name
        }
        if let best { return best }
        // A catalog without a fallback profile: synthesise the CPU-only one rather than fail.
        return (DeviceProfile.cpuOnlyFallback, .fallback)
    }
}

extension DeviceProfile {
    /// Decodes one profile's JSON, naming `source` in the error.
    public static func decode(_ bytes: [UInt8], source: String) throws -> DeviceProfile {
        let profile: DeviceProfile
        do {
            profile = try JSONDecoder().decode(DeviceProfile.self, from: Data(bytes))
        } catch let DecodingError.keyNotFound(key, _) {
            throw ProfileError.invalidProfile(source: source, reason: "missing field \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ProfileError.invalidProfile(source: source, reason: "field \"\(path)\": \(context.debugDescription)")
        } catch let DecodingError.dataCorrupted(context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ProfileError.invalidProfile(
                source: source, reason: (path.isEmpty ? "" : "field \"\(path)\": ") + context.debugDescription)
        } catch {
            throw ProfileError.invalidProfile(source: source, reason: "\(error)")
        }
        try profile.validate(source: source)
        return profile
    }

    /// Checks the numbers make sense together.
    func validate(source: String) throws {
        func fail(_ r: String) throws -> Never { throw ProfileError.invalidProfile(source: source, reason: r) }
        if name.isEmpty { try fail("\"name\" is empty") }
        if workspaceFloorMiB <= 0 { try fail("\"workspaceFloorMiB\" must be positive") }
        if workspaceCapMiB < workspaceFloorMiB { try fail("\"workspaceCapMiB\" is below \"workspaceFloorMiB\"") }
        if memoryReserveMiB < 0 { try fail("\"memoryReserveMiB\" must not be negative") }
        if !(0...5).contains(optimizationLevel) { try fail("\"optimizationLevel\" must be 0…5") }
        if dlaCores < 0 { try fail("\"dlaCores\" must not be negative") }
        if engineCacheBudgetMiB <= 0 { try fail("\"engineCacheBudgetMiB\" must be positive") }
    }

    /// Why this profile matches `facts`, or `nil` if it does not.
    ///
    /// Every rule present must hold. GPU rules (compute capability, kind) are checked only when
    /// the GPU query was supplied; memory rules only when `MemTotal` was read. A profile with
    /// model substrings matches by model string, or, when the model string does not match, by a
    /// reported compute capability it lists.
    public func matches(_ facts: DeviceFacts) -> MatchReason? {
        let rules = match
        if rules.fallback == true { return .fallback }
        if let range = rules.memoryTotalMiB, let total = facts.memTotalMiB, !range.contains(total) { return nil }
        if let kind = rules.gpu {
            if let gpu = facts.gpu {
                if gpu.integrated != (kind == .integrated) { return nil }
            } else if kind == .discrete {
                return nil  // a discrete GPU is only known from the device query
            }
        }
        var ccMatched = false
        if let ccs = rules.computeCapability, !ccs.isEmpty, let gpu = facts.gpu {
            guard ccs.contains(where: { ComputeCapability($0) == gpu.computeCapability }) else { return nil }
            ccMatched = true
        }
        if let models = rules.deviceTreeModel, !models.isEmpty {
            let model = facts.deviceTreeModel?.lowercased() ?? ""
            if models.contains(where: { model.contains($0.lowercased()) }) { return .deviceTreeModel }
            return ccMatched ? .computeCapability : nil
        }
        if ccMatched { return .computeCapability }
        if rules.gpu != nil, facts.gpu != nil { return .gpuKind }
        return nil
    }

    /// The CPU-only profile used when a catalog has no fallback of its own.
    static let cpuOnlyFallback = DeviceProfile(
        name: "cpu-only", displayName: "CPU only", match: MatchRules(fallback: true), unifiedMemory: false,
        dlaCores: 0, workspaceCapMiB: 1024, workspaceFloorMiB: 32, memoryReserveMiB: 512, defaultPrecision: .fp32,
        optimizationLevel: 3, tacticSources: nil, buildWhileServing: true, engineCacheBudgetMiB: 2048)
}

/// A device profile that cannot be found, read or used.
public enum ProfileError: KilnError, Equatable {
    /// `--profile NAME` named no profile.
    case unknownProfile(name: String, available: [String])
    /// A profile file is malformed.
    case invalidProfile(source: String, reason: String)
    /// `--profiles-dir` cannot be listed.
    case unreadableDirectory(path: String, reason: String)

    public var description: String {
        switch self {
        case .unknownProfile(let name, let available):
            "unknown device profile \"\(name)\"; use one of: \(available.joined(separator: ", ")) (or add \(name).json to --profiles-dir)"
        case .invalidProfile(let source, let reason):
            "device profile \(source) is invalid: \(reason); fix the file or remove it"
        case .unreadableDirectory(let path, let reason):
            "cannot read profiles directory \(path): \(reason); check --profiles-dir"
        }
    }

    public var exitCode: ExitCode {
        switch self {
        case .unknownProfile, .invalidProfile: .usage
        case .unreadableDirectory: .usage
        }
    }
}
