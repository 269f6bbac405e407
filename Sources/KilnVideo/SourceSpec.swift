import Foundation
import KilnCore

/// A parsed `--source` value: which kind of source to open and how.
///
/// Grammar (`:`-separated; options come before the free-form tail):
/// - `synthetic[:WxH]` — generated frames (the agent supplies the source; default 1280x720)
/// - `raw:PATH:WxH[:FORMAT]` — headerless frames; FORMAT rgb24 (default), bgr24, yuyv, nv12, i420, gray8
/// - `y4m:PATH`, or any PATH ending in `.y4m` — YUV4MPEG2 file
/// - `pipe:[WxH[:FORMAT]:][live:]COMMAND` — a program's stdout; without WxH it must write Y4M
/// - `gst:[WxH[:FORMAT]:][live:]PIPELINE` — GStreamer; appends `! videoconvert ! videoscale !
///   video/x-raw,format=RGB,width=W,height=H ! fdsink fd=1` (without WxH: `! videoconvert ! video/x-raw,format=I420 ! y4menc ! fdsink fd=1`)
/// - `v4l2:DEVICE[:WxH[:FORMAT]]`, or `/dev/videoN` — V4L2 camera, always live; FORMAT yuyv, nv12, rgb24;
///   `mjpeg` is refused with the GStreamer pipeline that decodes it
public enum SourceSpec: Sendable, Equatable, CustomStringConvertible {
    /// Generated frames of a size (built by the agent's synthetic source).
    case synthetic(width: Int, height: Int)
    /// A raw frame file.
    case rawFile(path: String, geometry: RawGeometry)
    /// A YUV4MPEG2 file.
    case y4mFile(path: String)
    /// A shell command writing frames to stdout; `geometry` nil means Y4M.
    case pipe(command: String, geometry: RawGeometry?, live: Bool)
    /// A GStreamer pipeline run by `gst-launch-1.0`, as a pipe.
    case gstreamer(pipeline: String, geometry: RawGeometry?, live: Bool)
    /// A V4L2 device.
    case v4l2(device: String, width: Int?, height: Int?, format: PixelFormat?)

    /// The text form (round-trips through `parse`).
    public var description: String {
        func size(_ g: RawGeometry?) -> String {
            guard let g else { return "" }
            return "\(g.width)x\(g.height):" + (g.format == .rgb24 ? "" : "\(g.format.rawValue):")
        }
        switch self {
        case .synthetic(let w, let h): return "synthetic:\(w)x\(h)"
        case .rawFile(let p, let g): return "raw:\(p):\(g.width)x\(g.height):\(g.format.rawValue)"
        case .y4mFile(let p): return "y4m:\(p)"
        case .pipe(let c, let g, let live): return "pipe:\(size(g))\(live ? "live:" : "")\(c)"
        case .gstreamer(let p, let g, let live): return "gst:\(size(g))\(live ? "live:" : "")\(p)"
        case .v4l2(let d, let w, let h, let f):
            var s = "v4l2:\(d)"
            if let w, let h { s += ":\(w)x\(h)" }
            if let f { s += ":\(f.rawValue)" }
            return s
        }
    }

    /// The full shell command of a pipe or GStreamer source.
    public var command: String? {
        switch self {
        case .pipe(let c, _, _): return c
        case .gstreamer(let p, let g, _):
            if let g {
                let caps = ["rgb24": "RGB", "bgr24": "BGR", "gray8": "GRAY8", "yuyv": "YUY2", "nv12": "NV12", "i420": "I420"][g.format.rawValue]!
                return "gst-launch-1.0 -q \(p) ! videoconvert ! videoscale ! video/x-raw,format=\(caps),width=\(g.width),height=\(g.height) ! fdsink fd=1"
            }
            return "gst-launch-1.0 -q \(p) ! videoconvert ! video/x-raw,format=I420 ! y4menc ! fdsink fd=1"
        default: return nil
        }
    }

    /// Parses `--source` text; errors name the text and the expected form.
    public static func parse(_ text: String) throws -> SourceSpec {
        func fail(_ why: String) -> VideoSourceError {
            .usage("--source \(text): \(why)")
        }
        if text == "synthetic" { return .synthetic(width: 1280, height: 720) }
        if text.hasPrefix("/dev/video") { return .v4l2(device: text, width: nil, height: nil, format: nil) }
        guard let colon = text.firstIndex(of: ":") else {
            if text.hasSuffix(".y4m") { return .y4mFile(path: text) }
            throw fail("unknown source; expected synthetic, raw:PATH:WxH, y4m:PATH, pipe:COMMAND, gst:PIPELINE or v4l2:/dev/videoN")
        }
        let scheme = String(text[..<colon])
        let rest = String(text[text.index(after: colon)...])
        switch scheme {
        case "synthetic":
            guard let (w, h) = parseSize(rest) else { throw fail("expected synthetic:WxH (e.g. synthetic:1920x1080)") }
            return .synthetic(width: w, height: h)
        case "raw":
            // PATH may contain colons: the size (and format) are taken from the end.
            var parts = rest.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            var format = PixelFormat.rgb24
            if let last = parts.last, let f = parseFormat(last), parts.count >= 3 {
                format = f
                parts.removeLast()
            }
            guard parts.count >= 2, let (w, h) = parseSize(parts.last!) else {
                throw fail("expected raw:PATH:WxH[:FORMAT] with FORMAT one of \(formatNames)")
            }
            let path = parts.dropLast().joined(separator: ":")
            guard !path.isEmpty else { throw fail("raw: needs a file path") }
            return .rawFile(path: path, geometry: RawGeometry(width: w, height: h, format: format))
        case "y4m":
            guard !rest.isEmpty else { throw fail("y4m: needs a file path") }
            return .y4mFile(path: rest)
        case "pipe", "gst":
            var tail = Substring(rest)
            var geometry: RawGeometry?
            var live = false
            while let c = tail.firstIndex(of: ":") {
                let token = String(tail[..<c])
                if geometry == nil, let (w, h) = parseSize(token) {
                    geometry = RawGeometry(width: w, height: h)
                } else if geometry != nil, let f = parseFormat(token) {
                    geometry!.format = f
                } else if token == "live" {
                    live = true
                } else if geometry == nil, token.wholeMatch(of: /[0-9]+x[0-9]+/) != nil {
                    throw fail("size \(token) is outside 1…\(TensorBudget.frameSideLimit) per side; give a smaller WxH")
                } else {
                    break
                }
                tail = tail[tail.index(after: c)...]
            }
            let body = tail.trimmingCharacters(in: .whitespaces)
            guard !body.isEmpty else {
                throw fail(scheme == "pipe" ? "expected pipe:[WxH[:FORMAT]:][live:]COMMAND" : "expected gst:[WxH[:FORMAT]:][live:]PIPELINE")
            }
            if scheme == "pipe" { return .pipe(command: body, geometry: geometry, live: live) }
            if body.contains("fdsink") {
                throw fail("give the pipeline without its sink; Kiln appends videoconvert, the caps and fdsink fd=1")
            }
            return .gstreamer(pipeline: body, geometry: geometry, live: live)
        case "v4l2":
            let parts = rest.split(separator: ":").map(String.init)
            guard let device = parts.first, device.hasPrefix("/") else { throw fail("expected v4l2:/dev/videoN[:WxH[:FORMAT]]") }
            var w: Int?, h: Int?, f: PixelFormat?
            for p in parts.dropFirst() {
                if let (pw, ph) = parseSize(p) { (w, h) = (pw, ph) }
                else if p == "mjpeg" || p == "mjpg" || p == "jpeg" {
                    throw fail("Kiln does not decode MJPEG itself; use a decoding pipeline: gst:\(w ?? 1280)x\(h ?? 720):v4l2src device=\(device) ! image/jpeg ! jpegdec (nvjpegdec on Jetson)")
                } else if let pf = parseFormat(p), [.yuyv, .nv12, .rgb24].contains(pf) { f = pf }
                else { throw fail("unknown V4L2 option \(p); expected WxH or one of yuyv, nv12, rgb24") }
            }
            return .v4l2(device: device, width: w, height: h, format: f)
        default:
            if text.hasSuffix(".y4m") { return .y4mFile(path: text) }
            throw fail("unknown source kind \(scheme); expected synthetic, raw, y4m, pipe, gst or v4l2")
        }
    }

    static let formatNames = "rgb24, bgr24, yuyv, nv12, i420, gray8"

    static func parseSize(_ s: String) -> (Int, Int)? {
        let p = s.split(separator: "x")
        guard p.count == 2, let w = Int(p[0]), let h = Int(p[1]), w > 0, h > 0, w <= TensorBudget.frameSideLimit, h <= TensorBudget.frameSideLimit else { return nil }
        return (w, h)
    }

    static func parseFormat(_ s: String) -> PixelFormat? {
        switch s.lowercased() {
        case "rgb", "rgb24": .rgb24
        case "bgr", "bgr24": .bgr24
        case "yuyv", "yuy2": .yuyv
        case "nv12": .nv12
        case "i420", "yuv420p": .i420
        case "gray", "gray8": .gray8
        default: nil
        }
    }

    /// Opens the source for stream `stream`. `synthetic` builds the agent's generated source
    /// (`.synthetic` throws a usage error when the caller passes none).
    public func makeSource(
        stream: String,
        synthetic: (@Sendable (_ stream: String, _ width: Int, _ height: Int) throws -> any FrameSource)? = nil
    ) throws -> any FrameSource {
        switch self {
        case .synthetic(let w, let h):
            guard let synthetic else {
                throw VideoSourceError.usage("--source \(description): this command has no synthetic source; pass a file, pipe, gst or v4l2 source")
            }
            return try synthetic(stream, w, h)
        case .rawFile(let path, let g):
            return try FileSource(rawPath: path, geometry: g, stream: stream)
        case .y4mFile(let path):
            return try FileSource(y4mPath: path, stream: stream)
        case .pipe(let c, let g, let live):
            return try PipeSource(command: c, geometry: g, live: live, stream: stream, description: description)
        case .gstreamer(_, let g, let live):
            return try PipeSource(command: command!, geometry: g, live: live, stream: stream, description: description)
        case .v4l2(let device, let w, let h, let f):
            #if os(Linux)
            return try V4L2Source(path: device, width: w, height: h, format: f, stream: stream)
            #else
            throw VideoSourceError("v4l2:\(device): V4L2 capture exists only on Linux")
            #endif
        }
    }
}
