/// Finds out which device Kiln runs on and picks its `DeviceProfile`.
///
/// Reads `/proc/device-tree/model`, `/etc/nv_tegra_release` and `/proc/meminfo` under `root`
/// (so tests point it at recorded fixture trees), takes the CUDA device query as an optional
/// input, and falls back to the CPU-only profile when nothing else matches.
public struct DeviceDetector: Sendable {
    /// The directory the system paths are read under; `/` on a real machine.
    public var root: String

    /// Creates a detector reading under `root`.
    public init(root: String = "/") { self.root = root }

    /// Reads what this machine says about itself; unreadable files leave their fields `nil`.
    public func readFacts(gpu: GPUDeviceIdentity? = nil) -> DeviceFacts {
        let memInfo = readMemInfo()
        return DeviceFacts(
            deviceTreeModel: readDeviceTreeModel(), tegraRelease: readTegraRelease(),
            memTotalBytes: memInfo?.totalBytes, memAvailableBytes: memInfo?.availableBytes, gpu: gpu)
    }

    /// Detects the device and chooses its profile: `override` (a profile name, `--profile`) wins,
    /// else the best match in `catalog`.
    ///
    /// Throws `ProfileError.unknownProfile` when `override` names no profile in `catalog`.
    public func detect(gpu: GPUDeviceIdentity? = nil, catalog: ProfileCatalog, override: String? = nil) throws -> DeviceDetection {
        let facts = readFacts(gpu: gpu)
        if let override {
            let profile = try catalog.profile(named: override)
            return DeviceDetection(facts: facts, profile: profile, reason: .override)
        }
        let (profile, reason) = catalog.select(for: facts)
        return DeviceDetection(facts: facts, profile: profile, reason: reason)
    }
}

/// The outcome of detection: the facts read, the profile chosen and why.
public struct DeviceDetection: Sendable, Codable, Equatable {
    /// What the machine said about itself.
    public var facts: DeviceFacts
    /// The chosen profile.
    public var profile: DeviceProfile
    /// Why this profile was chosen.
    public var reason: MatchReason

    /// The workspace arithmetic for a build on this device now.
    public var workspacePlan: WorkspacePlan { WorkspacePlan(profile: profile, facts: facts) }
}

/// Why a profile was chosen, strongest first.
public enum MatchReason: String, Sendable, Codable, Comparable {
    /// Named with `--profile`.
    case override
    /// The device-tree model string matched (with memory and GPU rules).
    case deviceTreeModel = "device-tree-model"
    /// The CUDA device query's compute capability and memory matched, without a model string match.
    case computeCapability = "compute-capability"
    /// The GPU query reported a GPU of the profile's kind (generic discrete).
    case gpuKind = "gpu-kind"
    /// Nothing else matched.
    case fallback

    private var rank: Int {
        switch self {
        case .override: 0
        case .deviceTreeModel: 1
        case .computeCapability: 2
        case .gpuKind: 3
        case .fallback: 4
        }
    }

    /// Stronger reasons sort first.
    public static func < (a: MatchReason, b: MatchReason) -> Bool { a.rank < b.rank }
}
