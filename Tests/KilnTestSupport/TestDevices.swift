import KilnCore

/// Devices as the CUDA driver reports them, for tests of what an identity feeds (cache keys, detection).
public enum TestDevices {
    /// A Jetson Orin Nano 8GB under JetPack 6 (CUDA 12.6): SM 8.7, 8 SMs, integrated memory.
    public static let orinNano = GPUDeviceIdentity(
        name: "Orin", uuid: "GPU-1", computeCapability: ComputeCapability(major: 8, minor: 7), totalMemoryBytes: 7_620_212 * 1024,
        integrated: true, multiprocessorCount: 8, driverVersion: 12060, runtimeVersion: "12.6")
}
