import Foundation

/// The instruction set the reference kernels are compiled for, and whether this CPU has it (Linux).
package enum CPUFeatures {
    /// `x86-64 avx2+fma`, `aarch64 neon` or `portable simd` (a `KILN_PORTABLE_KERNELS=1` build) —
    /// part of the reference backend's identity, so an engine built for one instruction set is
    /// refused on another.
    package static let instructionSet: String = {
        #if KILN_PORTABLE_KERNELS
            return "portable simd"
        #elseif arch(x86_64)
            #if KILN_X86_AVX2
                return "x86-64 avx2+fma"
            #else
                return "x86-64 sse2"
            #endif
        #elseif arch(arm64)
            return "aarch64 neon"
        #else
            return "generic"
        #endif
    }()

    /// The CPU features the compiled kernels need that /proc/cpuinfo does not list (empty: all present).
    package static let missingFeatures: [String] = {
        #if arch(x86_64) && KILN_X86_AVX2
            let flags = cpuinfoFlags(key: "flags")
            if flags.isEmpty { return [] }  // no /proc/cpuinfo: cannot tell, assume the build machine's ISA
            return ["avx2", "fma"].filter { !flags.contains($0) }
        #else
            return []
        #endif
    }()

    /// Whether this CPU has AVX-512F (and the OS saves its registers, which /proc/cpuinfo's
    /// `avx512f` flag implies on Linux): the GEMM then uses its 32-wide AVX-512 tile.
    package static let hasAVX512: Bool = {
        #if arch(x86_64)
            return cpuinfoFlags(key: "flags").contains("avx512f")
        #else
            return false
        #endif
    }()

    /// The space-separated feature words of the first `key:` line of /proc/cpuinfo.
    package static func cpuinfoFlags(key: String) -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == key {
                return Set(parts[1].split(separator: " ").map(String.init))
            }
        }
        return []
    }
}
