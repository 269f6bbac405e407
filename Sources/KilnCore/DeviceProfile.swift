/// What Kiln knows about one kind of device: how to recognise it and what it can afford.
///
/// Profiles live as JSON in the repository's `Profiles/` directory and are embedded in the
/// binary (`DeviceProfile.embeddedJSON`), so `kiln` works without the repository. Memory figures
/// are in MiB. A build's workspace is `min(workspaceCapMiB, MemAvailable − memoryReserveMiB)`,
/// never below `workspaceFloorMiB` (see `WorkspacePlan`).
public struct DeviceProfile: Sendable, Codable, Equatable {
    /// The profile's name, as given to `--profile` (`orin-nano-4gb`); equals the JSON file's name.
    public var name: String
    /// A human name (`Jetson Orin Nano 4 GB`).
    public var displayName: String
    /// How detection recognises the device.
    public var match: MatchRules
    /// The GPU's compute capability (`8.7`); absent where it comes from the GPU query or there is no GPU.
    public var sm: String?
    /// The board's nominal memory in MiB; absent for generic profiles.
    public var memoryMiB: Int?
    /// True when CPU and GPU share the same memory (every Jetson).
    public var unifiedMemory: Bool
    /// Deep-learning accelerator cores TensorRT can build for.
    public var dlaCores: Int
    /// The largest builder workspace Kiln ever asks for, in MiB.
    public var workspaceCapMiB: Int
    /// The smallest workspace Kiln asks for even when memory is short, in MiB.
    public var workspaceFloorMiB: Int
    /// Memory left for the OS, the camera stack and the running pipeline, in MiB.
    public var memoryReserveMiB: Int
    /// The precision engines are built in unless the user says otherwise.
    public var defaultPrecision: Precision
    /// TensorRT's builder optimization level (0–5).
    public var optimizationLevel: Int
    /// TensorRT 8's tactic-source policy; absent leaves TensorRT's default (and CPU-only has none).
    public var tacticSources: TacticSources?
    /// Whether the board may build a new engine while it is serving frames (rollouts check it).
    public var buildWhileServing: Bool
    /// The engine cache's default disk budget in MiB.
    public var engineCacheBudgetMiB: Int
    /// Free-form notes shown by `kiln doctor`.
    public var notes: String?
    /// The longest side a dynamic-size model input may take from the source's size; absent means 960
    /// (PaddleOCR's detection limit), see `inputSideCap`.
    public var maxInputSide: Int?

    /// The cap on a dynamic input's longest side: `maxInputSide`, or 960.
    public var inputSideCap: Int { maxInputSide ?? 960 }

    /// The build options this profile implies: its precision, optimization level and tactic
    /// sources, with `workspaceBytes` from `plan` when given.
    public func defaultBuildOptions(workspace plan: WorkspacePlan? = nil) -> BuildOptions {
        var options = BuildOptions(
            precision: defaultPrecision, optimizationLevel: optimizationLevel, tacticSources: tacticSources)
        if let plan { options.workspaceBytes = plan.workspaceBytes }
        options.workspaceFloorBytes = workspaceFloorMiB << 20
        options.workspaceCapBytes = workspaceCapMiB << 20
        return options
    }
}

/// The rules that recognise a device; every rule present must hold (see `DeviceProfile.matches`).
public struct MatchRules: Sendable, Codable, Equatable {
    /// Substrings of `/proc/device-tree/model`, compared case-insensitively; any one suffices.
    public var deviceTreeModel: [String]?
    /// Compute capabilities (`8.7`) the CUDA device query may report; any one suffices.
    public var computeCapability: [String]?
    /// The range `MemTotal` (from `/proc/meminfo`) must fall in, in MiB; tells 4 GB from 8 GB.
    public var memoryTotalMiB: MemoryRange?
    /// Whether the GPU must be integrated (Jetson) or discrete.
    public var gpu: GPUKind?
    /// True for the profile chosen when nothing else matches (CPU-only).
    public var fallback: Bool?
}

/// A half-open memory range in MiB: `min <= value < max`; no `max` means unbounded.
public struct MemoryRange: Sendable, Codable, Equatable {
    /// Inclusive lower bound in MiB.
    public var min: Int
    /// Exclusive upper bound in MiB; `nil` for no upper bound.
    public var max: Int?

    /// True if `mib` lies in the range.
    public func contains(_ mib: Int) -> Bool { mib >= min && (max.map { mib < $0 } ?? true) }

    /// The width used to prefer the narrowest matching range.
    var width: Int { (max ?? Int.max / 2) - min }
}

/// Whether a GPU shares memory with the CPU (Jetson) or sits on its own card.
public enum GPUKind: String, Sendable, Codable {
    /// A Tegra/Jetson GPU using system memory.
    case integrated
    /// A PCIe GPU with its own memory.
    case discrete
}
