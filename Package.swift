// swift-tools-version:6.0
import Foundation
import PackageDescription

/// Where the TensorRT headers live. Jetson's JetPack puts them in /usr/include/aarch64-linux-gnu;
/// set TENSORRT_INCLUDE to compile the real bridge against another copy. Without headers the
/// bridge compiles to a stub that reports "built without TensorRT headers".
let tensorRTInclude = ProcessInfo.processInfo.environment["TENSORRT_INCLUDE"]
/// CUDA runtime headers (cuda_runtime_api.h), needed by NvInfer.h; optional, set with CUDA_INCLUDE.
let cudaInclude = ProcessInfo.processInfo.environment["CUDA_INCLUDE"]

// Exceptions stay enabled: TensorRT 10's NvOnnxParser.h uses try/catch in inline code.
var bridgeFlags: [CXXSetting] = [.unsafeFlags(["-std=c++17"])]
for path in [tensorRTInclude, cudaInclude].compactMap({ $0 }) where !path.isEmpty {
    bridgeFlags.append(.unsafeFlags(["-I", path]))
}

/// Hot numeric code is optimised even in debug builds so the test suite runs real models quickly.
let optimised: [SwiftSetting] = [.unsafeFlags(["-O"])]

/// The reference backend's kernels target AVX2+FMA on x86-64 (its engines record the ISA and it
/// reports itself unavailable on x86 CPUs without them); other architectures use their baseline.
#if arch(x86_64)
let referenceISA: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"]), .define("KILN_X86_AVX2")]
/// The AVX-512 GEMM tile's module alone is compiled for AVX-512; it runs only where the CPU has it.
let avx512ISA: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512"])]
#else
let referenceISA: [SwiftSetting] = []
let avx512ISA: [SwiftSetting] = []
#endif

let package = Package(
    name: "Kiln",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kiln", targets: ["kiln"]),
        .executable(name: "kiln-bench", targets: ["kiln-bench"]),
    ],
    dependencies: [],
    targets: [
        /// The system layer: POSIX seam, files, processes, paths, logging, clock, SHA-256. No dependencies.
        .target(name: "KilnSystem", swiftSettings: optimised),
        .target(name: "KilnCore", dependencies: ["KilnSystem"], swiftSettings: optimised),
        .target(name: "KilnONNX", dependencies: ["KilnCore"], swiftSettings: optimised),
        .target(name: "CKilnTensorRT", cxxSettings: bridgeFlags, linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "KilnCUDA", dependencies: ["KilnCore"]),
        .target(name: "KilnKernelsAVX512", swiftSettings: optimised + avx512ISA),
        .target(
            name: "KilnInference",
            dependencies: ["KilnCore", "KilnONNX", "KilnCUDA", "CKilnTensorRT", "KilnKernelsAVX512"],
            swiftSettings: optimised + referenceISA),
        .target(name: "KilnVideo", dependencies: ["KilnCore", "KilnCUDA"], swiftSettings: optimised),
        .target(name: "KilnRegistry", dependencies: ["KilnCore", "KilnONNX"]),
        .target(name: "KilnTelemetry", dependencies: ["KilnCore"], swiftSettings: optimised),
        .target(name: "KilnPostprocess", dependencies: ["KilnCore"], swiftSettings: optimised),
        .target(
            name: "KilnAgent",
            dependencies: ["KilnCore", "KilnONNX", "KilnInference", "KilnVideo", "KilnRegistry", "KilnTelemetry", "KilnCUDA", "KilnPostprocess"]),
        .executableTarget(name: "kiln", dependencies: ["KilnAgent"]),
        .executableTarget(name: "kiln-bench", dependencies: ["KilnAgent"], swiftSettings: optimised),
        .executableTarget(name: "kiln-fuzz", dependencies: ["KilnONNX"], swiftSettings: optimised),
        .target(name: "KilnTestSupport", dependencies: ["KilnCore"], path: "Tests/KilnTestSupport"),
        /// A child process for the engine cache's multi-process tests (concurrent builds, SIGKILL mid-write).
        .executableTarget(name: "kiln-cache-probe", dependencies: ["KilnCore"], path: "Tests/KilnCacheProbe"),
        .testTarget(
            name: "KilnCoreTests", dependencies: ["KilnCore", "KilnTestSupport", "kiln-cache-probe"],
            exclude: ["Fixtures"]),
        .testTarget(name: "KilnONNXTests", dependencies: ["KilnONNX", "KilnTestSupport"]),
        .testTarget(
            name: "KilnInferenceTests", dependencies: ["KilnInference", "KilnTestSupport"],
            exclude: ["Conformance/skip-list.txt"]),
        .testTarget(name: "KilnCUDATests", dependencies: ["KilnCUDA", "KilnVideo", "KilnTestSupport"]),
        .testTarget(name: "KilnVideoTests", dependencies: ["KilnVideo", "KilnTestSupport"]),
        .testTarget(name: "KilnRegistryTests", dependencies: ["KilnRegistry", "KilnTestSupport"]),
        .testTarget(name: "KilnTelemetryTests", dependencies: ["KilnTelemetry", "KilnTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "KilnPostprocessTests", dependencies: ["KilnPostprocess", "KilnTestSupport"]),
        .testTarget(name: "KilnAgentTests", dependencies: ["KilnAgent", "KilnTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
