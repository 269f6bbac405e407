/// What the CUDA device query says about GPU 0, supplied by the caller (KilnCUDA fills it).
///
/// KilnCore does not depend on KilnCUDA: detection takes this as an optional input and falls
/// back to the device tree, `/proc/meminfo` and finally the CPU-only profile without it.
public struct GPUInfo: Sendable, Codable, Equatable {
    /// The device name (`Orin`, `NVIDIA GeForce RTX 4090`).
    public var name: String
    /// Compute capability major version.
    public var smMajor: Int
    /// Compute capability minor version.
    public var smMinor: Int
    /// Total device memory in bytes (system memory on integrated GPUs).
    public var totalMemoryBytes: Int
    /// True for integrated (Jetson) GPUs.
    public var integrated: Bool

    /// Creates GPU information.
    public init(name: String, smMajor: Int, smMinor: Int, totalMemoryBytes: Int, integrated: Bool) {
        self.name = name
        self.smMajor = smMajor
        self.smMinor = smMinor
        self.totalMemoryBytes = totalMemoryBytes
        self.integrated = integrated
    }

    /// The compute capability as profiles write it: `8.7`.
    public var computeCapability: String { "\(smMajor).\(smMinor)" }
}

extension GPUInfo {
    /// The detection input from KilnCUDA's device query (`CUDADevice.identity()`).
    public init(_ identity: GPUDeviceIdentity) {
        self.init(name: identity.name, smMajor: identity.computeMajor, smMinor: identity.computeMinor,
                  totalMemoryBytes: identity.totalMemoryBytes, integrated: identity.integrated)
    }
}
