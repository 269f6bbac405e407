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
}
