/// Parses and prints byte counts as users write them: `512M`, `2G`, `300MiB`, `1.5GB`, `65536`.
///
/// Suffixes are binary (K = KiB = 1024), as memory limits are; a plain number is bytes.
public enum ByteCountText {
    /// Bytes for `text`, or nil when it is not a byte count (negative, fractional bytes, overflow).
    public static func bytes(_ text: String) -> Int? {
        let (k, m, g, t) = (1024.0, 1048576.0, 1073741824.0, 1099511627776.0)
        let units: [(String, Double)] = [
            ("KiB", k), ("MiB", m), ("GiB", g), ("TiB", t), ("KB", k), ("MB", m), ("GB", g), ("TB", t),
            ("K", k), ("M", m), ("G", g), ("T", t), ("B", 1),
        ]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let v = Double(text.dropLast(suffix.count)), v >= 0, v.isFinite, v * scale < 9e18 else { return nil }
            return Int(v * scale)
        }
        return Int(text).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// `1.5 GiB`, `12 MiB`, `900 B`.
    public static func text(_ bytes: Int) -> String {
        if bytes >= 1 << 30 { return String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
        if bytes >= 1 << 20 { return "\(bytes >> 20) MiB" }
        return "\(bytes) B"
    }
}
