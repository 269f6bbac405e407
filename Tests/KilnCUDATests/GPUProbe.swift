import Foundation
import KilnCUDA
import KilnTestSupport
import Testing

extension Tag {
    /// Tests that need a real NVIDIA GPU; enabled when libcuda loads and a device exists.
    @Tag static var gpu: Self
}

/// Whether this machine can run the GPU tests (libcuda loads, `cuInit` works, a device exists).
enum GPUProbe {
    static let available: Bool = CUDA.unavailableReason() == nil

    /// The NVRTC library from the test venv's `nvidia-cuda-nvrtc` wheel (Tests/provision/50-gpu.sh).
    static func wheelNVRTC() throws -> String? { try TestEnvironment.wheelNVRTC() }
}
