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
    static func wheelNVRTC() throws -> String? {
        let lib = TestEnvironment.dataDirectory.appendingPathComponent("venv/lib")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: lib.path)) ?? []
        for v in versions where v.hasPrefix("python3") {
            let candidate = lib.appendingPathComponent("\(v)/site-packages/nvidia/cu13/lib/libnvrtc.so.13").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return try TestEnvironment.dataFile("venv/lib/python3.*/site-packages/nvidia/cu13/lib/libnvrtc.so.13").map(\.path)
    }
}
