/// The two `/proc/meminfo` figures Kiln plans memory with.
public struct MemInfo: Sendable, Equatable {
    /// `MemTotal` in bytes.
    public var totalBytes: Int?
    /// `MemAvailable` in bytes: what can be allocated without swapping (kernel ≥ 3.14).
    public var availableBytes: Int?

    /// Parses `/proc/meminfo` text (`MemTotal:        7620368 kB` lines).
    public init(parsing text: String) {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let value = Int(parts[1]) else { continue }
            let unit = parts.count >= 3 ? parts[2].lowercased() : ""
            let bytes = unit == "kb" ? value * 1024 : value
            switch parts[0] {
            case "MemTotal:": totalBytes = bytes
            case "MemAvailable:": availableBytes = bytes
            default: continue
            }
        }
    }
}
