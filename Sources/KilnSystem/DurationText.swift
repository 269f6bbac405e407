/// Parses and prints durations as users write them: `10s`, `500ms`, `2m`, `1h`, `1.5` (seconds).
public enum DurationText {
    /// Seconds for `text`, or nil when it is not a duration.
    public static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("us", 1e-6), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let v = Double(text.dropLast(suffix.count)), v >= 0, v.isFinite else { return nil }
            return v * scale
        }
        guard let v = Double(text), v >= 0, v.isFinite else { return nil }
        return v
    }

    /// Milliseconds for `text` (`20ms`, `1.5s`, `500us`); a plain number is milliseconds here,
    /// as latency budgets are written.
    public static func milliseconds(_ text: String) -> Double? {
        if let v = Double(text) { return v >= 0 && v.isFinite ? v : nil }
        if text.hasSuffix("µs"), let v = Double(text.dropLast(2)), v >= 0 { return v / 1000 }
        return seconds(text).map { $0 * 1000 }
    }
}
