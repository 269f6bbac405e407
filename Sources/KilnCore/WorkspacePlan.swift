/// The workspace arithmetic for one build: `min(profile cap, available − reserve)`, never below the floor.
///
/// Every term is kept so `kiln doctor` can show how the figure came about. On Jetson (and the
/// CPU-only profile) "available" is `/proc/meminfo`'s `MemAvailable`; on a discrete GPU it is the
/// GPU's total memory from the device query, since the builder's workspace lives there.
public struct WorkspacePlan: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Which term decided the result.
    public enum Limit: String, Sendable, Codable {
        /// The profile's cap was the smaller term.
        case profileCap = "profile-cap"
        /// Available memory minus the reserve was the smaller term.
        case availableMemory = "available-memory"
        /// Memory is short: the floor was used (the build may fail; the reserve is being eaten into).
        case floor
    }

    /// The profile's workspace cap in bytes.
    public var capBytes: Int
    /// The available memory in bytes; `nil` when it could not be read (then the cap is used).
    public var availableBytes: Int?
    /// Where `availableBytes` came from: `MemAvailable`, `GPU memory` or `unknown`.
    public var availableSource: String
    /// The memory kept back for the OS, camera stack and pipeline, in bytes.
    public var reserveBytes: Int
    /// The smallest workspace ever asked for, in bytes.
    public var floorBytes: Int
    /// The workspace to build with, in bytes.
    public var workspaceBytes: Int
    /// The term that decided `workspaceBytes`.
    public var limitedBy: Limit

    /// Computes the plan from its terms.
    public init(capBytes: Int, availableBytes: Int?, availableSource: String = "MemAvailable", reserveBytes: Int,
                floorBytes: Int) {
        self.capBytes = capBytes
        self.availableBytes = availableBytes
        self.availableSource = availableBytes == nil ? "unknown" : availableSource
        self.reserveBytes = reserveBytes
        self.floorBytes = floorBytes
        let headroom = availableBytes.map { $0 - reserveBytes }
        var value = capBytes
        var limit = Limit.profileCap
        if let headroom, headroom < capBytes {
            value = headroom
            limit = .availableMemory
        }
        if value < floorBytes {
            value = floorBytes
            limit = .floor
        }
        self.workspaceBytes = value
        self.limitedBy = limit
    }

    /// The plan for `profile` on a machine described by `facts`.
    public init(profile: DeviceProfile, facts: DeviceFacts) {
        let available: Int?
        let source: String
        if let gpu = facts.gpu, !gpu.integrated {
            available = gpu.totalMemoryBytes
            source = "GPU memory"
        } else {
            available = facts.memAvailableBytes
            source = "MemAvailable"
        }
        self.init(capBytes: profile.workspaceCapMiB << 20, availableBytes: available, availableSource: source,
                  reserveBytes: profile.memoryReserveMiB << 20, floorBytes: profile.workspaceFloorMiB << 20)
    }

    /// Available minus reserve, in bytes (negative when memory is short); `nil` if unknown.
    public var headroomBytes: Int? { availableBytes.map { $0 - reserveBytes } }

    /// `min(cap 768 MiB, MemAvailable 2900 MiB − reserve 1024 MiB = 1876 MiB) = 768 MiB (profile cap), floor 64 MiB`.
    public var description: String {
        func mib(_ b: Int) -> String { "\(b >> 20) MiB" }
        let inner: String
        if let available = availableBytes, let headroom = headroomBytes {
            inner = "\(availableSource) \(mib(available)) − reserve \(mib(reserveBytes)) = \(headroom < 0 ? "-" + mib(-headroom) : mib(headroom))"
        } else {
            inner = "available memory unknown"
        }
        return "min(cap \(mib(capBytes)), \(inner)) = \(mib(workspaceBytes)) (\(limitedBy.rawValue)), floor \(mib(floorBytes))"
    }
}
