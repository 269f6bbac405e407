import KilnCore
import Synchronization

/// The geometry of a headerless raw frame stream: every frame is `format.frameBytes(width:height:)`.
public struct RawGeometry: Sendable, Equatable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// The pixel layout of the stream.
    public var format: PixelFormat

    /// Creates a geometry.
    public init(width: Int, height: Int, format: PixelFormat = .rgb24) {
        self.width = width
        self.height = height
        self.format = format
    }

    /// Bytes per frame.
    public var frameBytes: Int { format.frameBytes(width: width, height: height) }

    /// Throws unless both sides are 1…`budget.maxFrameSide` and an RGB24 copy of the frame fits
    /// `budget`; `source` names where the geometry came from. Checked before any frame is allocated.
    public func check(source: String, budget: TensorBudget = .machine) throws(VideoSourceError) {
        let limit = budget.maxFrameSide
        guard (1...limit).contains(width), (1...limit).contains(height) else {
            throw VideoSourceError("\(source): frame size \(width)x\(height) is outside 1…\(limit) per side; scale the video down (ffmpeg -vf scale=1920:-2)")
        }
        guard width * height * 3 <= budget.maxTensorBytes else {
            throw VideoSourceError("\(source): a \(width)x\(height) frame does not fit this device's memory budget (\(budget)); scale the video down")
        }
    }
}

/// Decodes frames from a byte stream: headerless raw frames of a known geometry, or YUV4MPEG2.
///
/// Delivers RGB24 frames (other layouts are converted). Used by file and pipe sources.
final class FrameStreamDecoder: Sendable {
    enum Kind {
        case raw(RawGeometry)
        case y4m(RawGeometry)
    }

    /// What one reading thread at a time owns: the reader, the frame counter, the raw frame buffer.
    private struct Reading {
        let reader: FileDescriptorReader
        var index = 0
        var buffer: [UInt8]
    }

    /// The file descriptor read (its owner closes it).
    let fd: Int32
    let kind: Kind
    let stream: String
    private let reading: Mutex<Reading>
    /// RGB frame buffers given back by the loop, reused for later frames.
    private let pool = ByteBufferPool(limit: 16)

    /// A raw stream of `geometry`.
    init(reader: FileDescriptorReader, raw geometry: RawGeometry, stream: String) {
        self.fd = reader.fd
        self.kind = .raw(geometry)
        self.stream = stream
        self.reading = Mutex(Reading(reader: reader, buffer: [UInt8](repeating: 0, count: geometry.frameBytes)))
    }

    /// A Y4M stream: reads and validates the header now.
    init(reader: FileDescriptorReader, y4mStream stream: String) throws {
        self.fd = reader.fd
        self.stream = stream
        guard let header = try reader.readLine() else {
            var e = VideoSourceError("\(reader.name): empty stream; expected a YUV4MPEG2 header")
            e.endedEarly = true
            throw e
        }
        let geometry = try Self.parseY4MHeader(header, name: reader.name)
        self.kind = .y4m(geometry)
        self.reading = Mutex(Reading(reader: reader, buffer: [UInt8](repeating: 0, count: geometry.frameBytes)))
    }

    /// The geometry of frames on the stream (before conversion to RGB24).
    var geometry: RawGeometry {
        switch kind {
        case .raw(let g), .y4m(let g): g
        }
    }

    /// Parses `YUV4MPEG2 W… H… [F…] [I…] [A…] [C…]`.
    static func parseY4MHeader(_ header: String, name: String) throws -> RawGeometry {
        let fields = header.split(separator: " ")
        guard fields.first == "YUV4MPEG2" else {
            throw VideoSourceError("\(name): not a YUV4MPEG2 stream (header \(String(header.prefix(40)).debugDescription)); for raw frames give WxH and a format")
        }
        var width = 0, height = 0
        var format = PixelFormat.i420
        for f in fields.dropFirst() {
            let value = f.dropFirst()
            switch f.first {
            case "W": width = Int(value) ?? 0
            case "H": height = Int(value) ?? 0
            case "I":
                if value != "p" && value != "?" {
                    throw VideoSourceError("\(name): interlaced Y4M (I\(value)) is not supported; deinterlace first (ffmpeg -vf yadif)")
                }
            case "C":
                if value.hasPrefix("420") { format = .i420 }
                else if value == "mono" { format = .gray8 }
                else {
                    throw VideoSourceError("\(name): Y4M colorspace C\(value) is not supported; convert with ffmpeg -pix_fmt yuv420p")
                }
            default: break
            }
        }
        guard width > 0, height > 0 else {
            throw VideoSourceError("\(name): Y4M header without a valid W/H: \(header.debugDescription)")
        }
        let geometry = RawGeometry(width: width, height: height, format: format)
        try geometry.check(source: "\(name): Y4M header")
        return geometry
    }

    /// The next frame, RGB24; nil at a clean end of stream; an error for a truncated frame.
    func next() throws -> Frame? {
        try reading.withLock { r throws -> Frame? in
            // Capture time is read time: it starts when the frame's first bytes arrive (its FRAME
            // marker), not while waiting for a producer that has not written it yet.
            var start: Double?
            if case .y4m = kind {
                guard let line = try r.reader.readLine() else { return nil }
                guard line.hasPrefix("FRAME") else {
                    throw VideoSourceError("\(r.reader.name): frame \(r.index): expected a FRAME marker, got \(String(line.prefix(20)).debugDescription)")
                }
                start = MonotonicClock.now
            }
            let g = geometry
            let reader = r.reader
            let got = try r.buffer.withUnsafeMutableBytes { try reader.read(into: $0, arrived: &start) }
            if got == 0, case .raw = kind { return nil }
            guard got == g.frameBytes else {
                var e = VideoSourceError(
                    "\(reader.name): stream ended mid-frame \(r.index) (got \(got) of \(g.frameBytes) bytes); check that \(g.width)x\(g.height) \(g.format.rawValue) matches what the producer writes")
                e.endedEarly = true
                throw e
            }
            var pixels = pool.take(count: g.width * g.height * 3)
            r.buffer.withUnsafeBytes { src in
                pixels.withUnsafeMutableBufferPointer { PixelConversion.toRGB24(src, format: g.format, width: g.width, height: g.height, into: $0) }
            }
            let now = MonotonicClock.now
            defer { r.index += 1 }
            return Frame(stream: stream, index: r.index, width: g.width, height: g.height, format: .rgb24, pixels: pixels,
                         captureTime: now, captureSeconds: now - (start ?? now), pool: pool)
        }
    }
}
