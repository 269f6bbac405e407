// swift-tools-version:6.0
import Foundation
import PackageDescription

let environment = ProcessInfo.processInfo.environment

/// The first directory of `candidates` that holds `header`.
func directory(holding header: String, among candidates: [String?]) -> String? {
    candidates.compactMap { $0 }.first { !$0.isEmpty && FileManager.default.fileExists(atPath: "\($0)/\(header)") }
}

/// `/usr/local/cuda-X.Y/include` folders, newest version first.
func versionedCUDAIncludes() -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/local")) ?? []
    let versions = names.filter { $0.hasPrefix("cuda-") }.map { name in
        (name, name.dropFirst(5).split(separator: ".").map { Int($0) ?? 0 })
    }
    return versions.sorted { $0.1.lexicographicallyPrecedes($1.1) }.reversed().map { "/usr/local/\($0.0)/include" }
}

/// TensorRT's headers: TENSORRT_INCLUDE, else where JetPack (aarch64) or NVIDIA's x86 .deb puts them.
let tensorRTInclude = directory(holding: "NvInfer.h", among: [
    environment["TENSORRT_INCLUDE"], "/usr/include/aarch64-linux-gnu", "/usr/include/x86_64-linux-gnu", "/usr/include",
])
/// CUDA's runtime headers (NvInfer.h includes cuda_runtime_api.h): CUDA_INCLUDE, CUDA_HOME, CUDA_PATH,
/// /usr/local/cuda (JetPack's place), else the newest /usr/local/cuda-X.Y.
let cudaInclude = directory(holding: "cuda_runtime_api.h", among: [
    environment["CUDA_INCLUDE"], environment["CUDA_HOME"].map { "\($0)/include" }, environment["CUDA_PATH"].map { "\($0)/include" },
    "/usr/local/cuda/include",
] + versionedCUDAIncludes() + ["/usr/include"])

// Exceptions stay enabled: TensorRT 10's NvOnnxParser.h uses try/catch in inline code. The bridge
// decides real or stub itself (`__has_include` of each header it needs), so a missing header never
// fails the build; the stub says which one was missing.
var bridgeFlags: [CXXSetting] = [.unsafeFlags(["-std=c++17"])]
for path in [tensorRTInclude, cudaInclude].compactMap({ $0 }) where path != "/usr/include" {
    bridgeFlags.append(.unsafeFlags(["-I", path]))
}

/// Hot numeric code is optimised even in debug builds so the test suite runs real models quickly.
let optimised: [SwiftSetting] = [.unsafeFlags(["-O"])]

/// `KILN_PORTABLE_KERNELS=1 swift build …` compiles the reference kernels' portable path (the Swift
/// SIMD code aarch64, a Jetson's CPU, runs) on x86-64 too, so CI checks Jetson's CPU path with the
/// conformance sweep and the real models; its engines say "portable simd" in their identity.
let portableKernels = Context.environment["KILN_PORTABLE_KERNELS"] == "1"

/// The reference backend's kernels (KilnReferenceKernels, and nothing else) target AVX2+FMA on
/// x86-64 (`KILN_X86_KERNELS` selects their x86 paths); KilnInference, compiled for the baseline so
/// its check runs on any x86-64 CPU, knows (`KILN_X86_AVX2`) and reports the backend unavailable
/// where the CPU lacks them. Engines record the ISA. Other architectures, and portable builds, use
/// the baseline and the portable SIMD path (`KILN_PORTABLE_KERNELS` names it in both targets).
#if arch(x86_64)
let referenceISA: [SwiftSetting] = portableKernels
    ? [.define("KILN_PORTABLE_KERNELS")]
    : [.unsafeFlags(["-target-cpu", "haswell"]), .define("KILN_X86_KERNELS")]
let referenceISAName: [SwiftSetting] = portableKernels ? [.define("KILN_PORTABLE_KERNELS")] : [.define("KILN_X86_AVX2")]
/// The AVX-512 GEMM tile's module alone is compiled for AVX-512; it runs only where the CPU has it.
let avx512ISA: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512"])]
#else
let referenceISA: [SwiftSetting] = portableKernels ? [.define("KILN_PORTABLE_KERNELS")] : []
let referenceISAName: [SwiftSetting] = portableKernels ? [.define("KILN_PORTABLE_KERNELS")] : []
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
        .target(name: "KilnCore", dependencies: ["KilnSystem"], resources: [.embedInCode("Profiles")], swiftSettings: optimised),
        .target(name: "KilnONNX", dependencies: ["KilnCore"], swiftSettings: optimised),
        .target(name: "CKilnTensorRT", cxxSettings: bridgeFlags, linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "KilnCUDA", dependencies: ["KilnCore"]),
        .target(name: "KilnKernelsAVX512", swiftSettings: optimised + avx512ISA),
        /// The backend protocols and the CPU check: baseline ISA.
        .target(name: "KilnInference", dependencies: ["KilnCore"], swiftSettings: optimised + referenceISAName),
        /// The reference backend's IR, kernels, optimizer, engine format and runner: the only target built for AVX2.
        .target(
            name: "KilnReferenceKernels",
            dependencies: ["KilnCore", "KilnONNX", "KilnInference", "KilnKernelsAVX512"],
            swiftSettings: optimised + referenceISA),
        /// The reference backend and the golden-data verifier: baseline ISA.
        .target(
            name: "KilnReference", dependencies: ["KilnCore", "KilnONNX", "KilnInference", "KilnReferenceKernels"],
            swiftSettings: optimised),
        .target(name: "KilnTensorRT", dependencies: ["KilnCore", "KilnONNX", "KilnCUDA", "KilnInference", "CKilnTensorRT"]),
        .target(name: "KilnVideo", dependencies: ["KilnCore", "KilnCUDA"], swiftSettings: optimised),
        .target(name: "KilnRegistry", dependencies: ["KilnCore", "KilnPostprocess"]),
        .target(name: "KilnTelemetry", dependencies: ["KilnCore"], swiftSettings: optimised),
        .target(name: "KilnService", dependencies: ["KilnCore"]),
        .target(name: "KilnRollout", dependencies: ["KilnCore", "KilnRegistry"]),
        .target(name: "KilnPostprocess", dependencies: ["KilnCore"], swiftSettings: optimised),
        .target(
            name: "KilnAgent",
            dependencies: [
                "KilnCore", "KilnONNX", "KilnInference", "KilnReference", "KilnTensorRT", "KilnVideo", "KilnRegistry", "KilnTelemetry", "KilnCUDA",
                "KilnPostprocess", "KilnService", "KilnRollout", "KilnSystem",
            ]),
        .executableTarget(
            name: "kiln",
            dependencies: [
                "KilnAgent", "KilnCore", "KilnCUDA", "KilnInference", "KilnONNX", "KilnPostprocess", "KilnReference",
                "KilnReferenceKernels", "KilnRegistry",
                "KilnRollout", "KilnService", "KilnSystem", "KilnTelemetry", "KilnTensorRT",
            ]),
        .executableTarget(
            name: "kiln-bench",
            dependencies: [
                "KilnAgent", "KilnCore", "KilnCUDA", "KilnInference", "KilnONNX", "KilnReference", "KilnReferenceKernels",
                "KilnTelemetry", "KilnVideo",
            ],
            swiftSettings: optimised),
        .executableTarget(name: "kiln-fuzz", dependencies: ["KilnONNX"], swiftSettings: optimised),
        .target(name: "KilnTestSupport", dependencies: ["KilnCore"], path: "Tests/KilnTestSupport"),
        /// A child process for the engine cache's multi-process tests (concurrent builds, SIGKILL mid-write).
        .executableTarget(name: "kiln-cache-probe", dependencies: ["KilnCore"], path: "Tests/KilnCacheProbe"),
        /// The TensorRT bridge alone, printing what it was compiled against (the JetPack-layout compile check).
        .executableTarget(name: "kiln-tensorrt-probe", dependencies: ["CKilnTensorRT"], path: "Tests/KilnTensorRTProbe"),
        .testTarget(
            name: "KilnCoreTests", dependencies: ["KilnCore", "KilnTestSupport", "kiln-cache-probe"],
            exclude: ["Fixtures"]),
        .testTarget(name: "KilnSystemTests", dependencies: ["KilnSystem"]),
        .testTarget(name: "KilnONNXTests", dependencies: ["KilnCore", "KilnONNX", "KilnTestSupport"]),
        .testTarget(
            name: "KilnInferenceTests",
            dependencies: ["KilnCore", "KilnONNX", "KilnInference", "KilnReference", "KilnReferenceKernels", "KilnTestSupport"],
            exclude: ["Conformance/skip-list.txt"]),
        .testTarget(
            name: "KilnTensorRTTests", dependencies: ["KilnCore", "KilnONNX", "KilnInference", "KilnTensorRT", "KilnTestSupport"]),
        .testTarget(name: "KilnCUDATests", dependencies: ["KilnCore", "KilnCUDA", "KilnVideo", "KilnTestSupport"]),
        .testTarget(name: "KilnVideoTests", dependencies: ["KilnVideo", "KilnTestSupport"]),
        .testTarget(name: "KilnRegistryTests", dependencies: ["KilnCore", "KilnONNX", "KilnRegistry", "KilnTestSupport"]),
        .testTarget(name: "KilnTelemetryTests", dependencies: ["KilnCore", "KilnTelemetry", "KilnTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "KilnPostprocessTests", dependencies: ["KilnCore", "KilnPostprocess", "KilnTestSupport"]),
        .testTarget(name: "KilnServiceTests", dependencies: ["KilnService", "KilnTestSupport"]),
        .testTarget(
            name: "KilnAgentTests",
            dependencies: [
                "KilnAgent", "KilnCore", "KilnInference", "KilnONNX", "KilnReference", "KilnRegistry", "KilnRollout", "KilnTensorRT", "KilnVideo",
                "KilnTestSupport",
            ]),
    ],
    swiftLanguageModes: [.v6]
)
