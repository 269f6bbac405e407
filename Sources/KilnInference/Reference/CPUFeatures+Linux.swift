import Foundation

/// The instruction set the reference kernels are compiled and run for, read from the CPU (Linux).
enum CPUFeatures {
    /// `x86-64 avx2+fma`, `x86-64 sse2`, `aarch64 neon`, … — part of the reference backend's identity.
    static let instructionSet: String = {
        #if arch(x86_64)
            let flags = cpuinfoFlags(key: "flags")
            var features: [String] = []
            if flags.contains("avx512f") { features.append("avx512f") }
            if flags.contains("avx2") { features.append("avx2") }
            if flags.contains("fma") { features.append("fma") }
            if features.isEmpty { features.append("sse2") }
            return "x86-64 " + features.joined(separator: "+")
        #elseif arch(arm64)
            let flags = cpuinfoFlags(key: "Features")
            var features = ["neon"]
            if flags.contains("asimdhp") { features.append("fp16") }
            if flags.contains("asimddp") { features.append("dotprod") }
            return "aarch64 " + features.joined(separator: "+")
        #else
            return "generic"
        #endif
    }()

    /// The space-separated feature words of the first `key:` line of /proc/cpuinfo.
    static func cpuinfoFlags(key: String) -> Set<String> {
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
