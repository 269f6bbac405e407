import KilnCore
import KilnCUDA

/// What Kiln knows about the machine it runs on: the GPU (if any), the matched profile, memory.
public struct DeviceContext: Sendable {
    /// The CUDA device 0, when libcuda loads and reports one.
    public var gpu: CUDADevice?
    /// Why there is no GPU, when there is none (`libcuda.so.1 not found`, `no CUDA device`).
    public var gpuUnavailableReason: String?
    /// Facts, the selected profile and why it was selected.
    public var detection: DeviceDetection
    /// The workspace the profile and free memory allow for a build.
    public var workspace: WorkspacePlan

    /// Detects the device: queries CUDA when present, reads /proc and the device tree, and picks
    /// the profile (`profileOverride` wins; `profilesDirectory` overlays the embedded profiles).
    public static func detect(profileOverride: String? = nil, profilesDirectory: String? = nil, root: String = "/") throws -> DeviceContext {
        var gpu: CUDADevice?
        var reason: String?
        do {
            gpu = try CUDADevice.query()
        } catch {
            reason = "\(error)"
        }
        let info = gpu.map {
            GPUInfo(name: $0.name, smMajor: $0.computeMajor, smMinor: $0.computeMinor, totalMemoryBytes: $0.totalMemoryBytes,
                    integrated: $0.integrated)
        }
        let catalog = try ProfileCatalog.embedded(overlaidWith: profilesDirectory)
        let detection = try DeviceDetector(root: root).detect(gpu: info, catalog: catalog, override: profileOverride)
        return DeviceContext(gpu: gpu, gpuUnavailableReason: reason, detection: detection,
                             workspace: WorkspacePlan(profile: detection.profile, facts: detection.facts))
    }

    /// Build options from the profile, with the workspace the plan allows.
    public var defaultBuildOptions: BuildOptions {
        detection.profile.defaultBuildOptions(workspace: workspace)
    }

    /// The device name recorded in cache metadata.
    public var deviceName: String {
        gpu?.name ?? detection.facts.deviceTreeModel ?? "cpu"
    }
}
