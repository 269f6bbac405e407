/// Everything detection read about this machine, before a profile is chosen.
public struct DeviceFacts: Sendable, Codable, Equatable {
    /// `/proc/device-tree/model` without its trailing NUL; `nil` where there is no device tree.
    public var deviceTreeModel: String?
    /// The L4T release from `/etc/nv_tegra_release`; `nil` off Jetson.
    public var tegraRelease: TegraRelease?
    /// `/proc/meminfo`'s `MemTotal` in bytes; `nil` if unreadable.
    public var memTotalBytes: Int?
    /// `/proc/meminfo`'s `MemAvailable` in bytes; `nil` if unreadable.
    public var memAvailableBytes: Int?
    /// The CUDA device query, when the caller supplied one.
    public var gpu: GPUDeviceIdentity?

    /// Creates device facts.
    public init(
        deviceTreeModel: String? = nil, tegraRelease: TegraRelease? = nil, memTotalBytes: Int? = nil,
        memAvailableBytes: Int? = nil, gpu: GPUDeviceIdentity? = nil
    ) {
        self.deviceTreeModel = deviceTreeModel
        self.tegraRelease = tegraRelease
        self.memTotalBytes = memTotalBytes
        self.memAvailableBytes = memAvailableBytes
        self.gpu = gpu
    }

    /// A one-line name for messages: the device-tree model, else the GPU's name, else `this machine`.
    public var deviceName: String { deviceTreeModel ?? gpu?.name ?? "this machine" }

    /// `MemTotal` in MiB, rounded down.
    public var memTotalMiB: Int? { memTotalBytes.map { $0 >> 20 } }
}

/// The L4T (Linux for Tegra) release, read from `/etc/nv_tegra_release`, and its JetPack version.
public struct TegraRelease: Sendable, Codable, Equatable, CustomStringConvertible {
    /// The major release (`35` from `# R35 (release)`).
    public var major: Int
    /// The revision (`4.1` from `REVISION: 4.1`).
    public var revision: String
    /// The board family (`t186ref`), when present.
    public var board: String?

    /// Creates a release.
    public init(major: Int, revision: String, board: String? = nil) {
        self.major = major
        self.revision = revision
        self.board = board
    }

    /// `35.4.1`.
    public var version: String { "\(major).\(revision)" }

    /// `L4T 35.4.1`.
    public var description: String { "L4T \(version)" }

    /// The JetPack release that ships this L4T, when known (`5.1.2` for L4T 35.4.1).
    public var jetPack: String? {
        let v = version
        if let exact = Self.jetPackByL4T[v] { return exact }
        // A ".0" revision is written with or without the trailing zero.
        if v.hasSuffix(".0"), let trimmed = Self.jetPackByL4T[String(v.dropLast(2))] { return trimmed }
        return Self.jetPackByL4T[v + ".0"]
    }

    /// L4T → JetPack, from NVIDIA's JetPack archive.
    static let jetPackByL4T: [String: String] = [
        "32.4.3": "4.4", "32.4.4": "4.4.1", "32.5.0": "4.5", "32.5.1": "4.5.1", "32.5.2": "4.5.1",
        "32.6.1": "4.6", "32.7.1": "4.6.1", "32.7.2": "4.6.2", "32.7.3": "4.6.3", "32.7.4": "4.6.4",
        "32.7.5": "4.6.5", "32.7.6": "4.6.6",
        "34.1.0": "5.0 DP", "34.1.1": "5.0 DP", "35.1.0": "5.0.2", "35.2.1": "5.1", "35.3.1": "5.1.1",
        "35.4.1": "5.1.2", "35.5.0": "5.1.3", "35.6.0": "5.1.4", "35.6.1": "5.1.5",
        "36.2.0": "6.0 DP", "36.3.0": "6.0", "36.4.0": "6.1", "36.4.3": "6.2", "36.4.4": "6.2.1",
        "38.2.0": "7.0", "38.2.1": "7.0",
    ]
}
