import KilnCore
import KilnVideo

/// Turns `--source` specs into frame sources.
public enum FrameSources {
    /// The sources `specs` name, one stream each (none: one synthetic 1280×720 stream);
    /// `NAME=SPEC` names the stream (`cam0=v4l2:/dev/video0`), else with several, streams are
    /// named `stream0`, `stream1`, ….
    public static func make(_ specs: [String]) throws -> [any FrameSource] {
        let specs = specs.isEmpty ? ["synthetic"] : specs
        var names = Set<String>()
        return try specs.enumerated().map { index, text in
            let (name, spec) = splitName(text)
            if let name {
                guard names.insert(name).inserted else { throw UsageError("--source \(text): stream name \(name) is used twice") }
            }
            return try make(spec, stream: name ?? (specs.count == 1 ? nil : "stream\(index)"))
        }
    }

    /// `cam0=SPEC` → ("cam0", SPEC); a spec without a leading `NAME=` (letters, digits, `_`, `-`,
    /// `.`; before any `:` or `/`) is returned whole.
    public static func splitName(_ text: String) -> (name: String?, spec: String) {
        guard let eq = text.firstIndex(of: "=") else { return (nil, text) }
        let name = text[..<eq]
        guard !name.isEmpty, name.count <= 64,
              name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }) else { return (nil, text) }
        return (String(name), String(text[text.index(after: eq)...]))
    }

    /// Makes the source `spec` names; `stream` overrides its stream name.
    public static func make(_ spec: String, stream: String?) throws -> any FrameSource {
        if spec == "synthetic" || spec.hasPrefix("synthetic:") || spec.hasPrefix("synthetic@") {
            var rest = spec.dropFirst("synthetic".count)
            var fps: Double?
            if let at = rest.firstIndex(of: "@") {
                guard let f = Double(rest[rest.index(after: at)...]), f > 0 else {
                    throw UsageError("--source \(spec): the frame rate after @ must be a positive number")
                }
                fps = f
                rest = rest[..<at]
            }
            var width = 1280, height = 720
            if rest.hasPrefix(":") {
                let size = rest.dropFirst().split(separator: "x")
                guard size.count == 2, let w = Int(size[0]), let h = Int(size[1]), w >= 8, h >= 8, w <= 7680, h <= 4320 else {
                    throw UsageError("--source \(spec): write synthetic:WIDTHxHEIGHT, e.g. synthetic:1920x1080")
                }
                (width, height) = (w, h)
            }
            return SyntheticSource(width: width, height: height, framesPerSecond: fps, stream: stream ?? "synthetic")
        }
        return try SourceSpec.parse(spec).makeSource(stream: stream ?? "stream0")
    }
}
