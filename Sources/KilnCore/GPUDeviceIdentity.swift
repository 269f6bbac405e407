/// What a CUDA device is, as far as engine validity and device profiles care.
///
/// The one GPU identity: filled by the CUDA driver's device query (`KilnCUDA.CUDADevice.identity`); device
/// detection matches profiles against it (`DeviceFacts.gpu`), profiles pick
/// defaults from it and engine cache keys include `cacheKeyFields`. Jetson boards all report the
/// name "Orin" (or "Xavier"), so the multiprocessor count is part of the key as well: an Orin Nano
/// and an AGX Orin share sm_87 but not their tuned tactics.
public struct GPUDeviceIdentity: Sendable, Codable, Equatable, Hashable {
    /// The device name the driver reports (`NVIDIA H100 80GB HBM3`, `Orin`).
    public var name: String
    /// The device UUID (`GPU-xxxxxxxx-…`); identifies this board, not part of cache keys.
    public var uuid: String
    /// The compute capability (9.0 for Hopper, 8.7 for Orin).
    public var computeCapability: ComputeCapability
    /// Total device memory in bytes (on integrated GPUs, the shared system memory CUDA may use).
    public var totalMemoryBytes: Int
    /// True for integrated GPUs (every Jetson): host and device share memory, zero-copy pays off.
    public var integrated: Bool
    /// Streaming multiprocessors.
    public var multiprocessorCount: Int
    /// `cuDriverGetVersion`: 13000 means CUDA 13.0.
    public var driverVersion: Int
    /// The CUDA runtime compiler's version (`nvrtcVersion`) as `major.minor`; empty when NVRTC is absent.
    public var runtimeVersion: String

    /// Creates an identity.
    public init(name: String, uuid: String, computeCapability: ComputeCapability, totalMemoryBytes: Int,
                integrated: Bool, multiprocessorCount: Int, driverVersion: Int, runtimeVersion: String) {
        self.name = name
        self.uuid = uuid
        self.computeCapability = computeCapability
        self.totalMemoryBytes = totalMemoryBytes
        self.integrated = integrated
        self.multiprocessorCount = multiprocessorCount
        self.driverVersion = driverVersion
        self.runtimeVersion = runtimeVersion
    }

    /// The SM as written in compiler targets: `90` for compute capability 9.0, `87` for 8.7.
    public var sm: String { computeCapability.sm }

    /// The driver's CUDA version as `major.minor` (`13.0`).
    public var driverVersionString: String { "\(driverVersion / 1000).\((driverVersion % 1000) / 10)" }

    /// The fields that make an engine built on this device valid only on an equal device.
    ///
    /// `device` (name), `sm`, `sm_count` and `cuda` (driver major.minor). The UUID, memory size and
    /// NVRTC version are left out: two boards of one model share engines, and engines do not depend
    /// on NVRTC.
    public var cacheKeyFields: [String: String] {
        ["device": name, "sm": sm, "sm_count": String(multiprocessorCount), "cuda": driverVersionString]
    }

    /// One line for logs and `kiln doctor`.
    public var summary: String {
        let gib = Double(totalMemoryBytes) / Double(1 << 30)
        let mem = (gib * 10).rounded() / 10
        return "\(name) sm_\(sm) \(multiprocessorCount) SMs \(mem) GiB\(integrated ? " integrated" : "") driver CUDA \(driverVersionString)"
            + (runtimeVersion.isEmpty ? "" : " NVRTC \(runtimeVersion)")
    }
}
