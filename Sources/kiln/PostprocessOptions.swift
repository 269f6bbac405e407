import KilnPostprocess

/// The postprocessing flags `kiln run` and `kiln publish` share: `--postprocess`, `--conf`,
/// `--iou`, `--max-det`, `--classes`, `--agnostic-nms` (and `--labels`, read by the caller).
enum PostprocessOptions {
    /// Consumes the flags; only what they say is set.
    static func parse(_ a: inout Arguments) throws -> PostprocessSettings {
        var s = PostprocessSettings()
        s.method = try a.option("--postprocess")
        let unit: (String) -> Float? = { Float($0).flatMap { $0 >= 0 && $0 <= 1 ? $0 : nil } }
        s.confidence = try a.option("--conf", "a threshold 0–1", unit)
        s.iou = try a.option("--iou", "a threshold 0–1", unit)
        s.maxDetections = try a.option("--max-det", "a positive count") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        s.classes = try a.option("--classes", "class ids separated by commas, e.g. 0,2") { text in
            let ids = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            return ids.isEmpty || ids.contains(where: { $0 == nil || $0! < 0 }) ? nil : ids.map { $0! }
        }
        if a.flag("--agnostic-nms") { s.agnosticNMS = true }
        return s
    }
}
