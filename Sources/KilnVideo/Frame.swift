import KilnCore

/// The pixel layout of a captured frame.
public enum PixelFormat: String, Sendable, Codable {
    /// Packed 8-bit R, G, B.
    case rgb24
    /// Packed 8-bit B, G, R.
    case bgr24
    /// Packed 4:2:2 Y0 U Y1 V (V4L2 YUYV).
    case yuyv
    /// Planar Y, then interleaved U/V at half resolution (4:2:0).
    case nv12
    /// Planar Y, U, V at 4:2:0 (Y4M's C420).
    case i420
    /// 8-bit grey.
    case gray8

    /// Bytes of one `width`×`height` image in this layout.
    public func frameBytes(width: Int, height: Int) -> Int {
        switch self {
        case .rgb24, .bgr24: width * height * 3
        case .yuyv: width * height * 2
        case .nv12, .i420: width * height + 2 * ((width + 1) / 2) * ((height + 1) / 2)
        case .gray8: width * height
        }
    }
}

/// One captured video frame in host memory.
public struct Frame: Sendable {
    /// The stream this frame came from (its name in statistics and metrics).
    public var stream: String
    /// The frame's sequence number within its stream, from 0.
    public var index: Int
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Pixel layout of `pixels`.
    public var format: PixelFormat
    /// The pixel data, `format.frameBytes(width:height:)` bytes, rows tightly packed.
    public var pixels: [UInt8]
    /// When capture finished, in seconds of the monotonic clock (`MonotonicClock.now`).
    public var captureTime: Double
    /// How long capture took, in seconds (reading/decoding/converting the frame).
    public var captureSeconds: Double
    /// The source's pool that `pixels` goes back to when the loop is done with the frame (nil: freed).
    public var pool: ByteBufferPool?

    /// Creates a frame.
    public init(stream: String, index: Int, width: Int, height: Int, format: PixelFormat, pixels: [UInt8],
                captureTime: Double, captureSeconds: Double, pool: ByteBufferPool? = nil) {
        self.stream = stream
        self.index = index
        self.width = width
        self.height = height
        self.format = format
        self.pixels = pixels
        self.captureTime = captureTime
        self.captureSeconds = captureSeconds
        self.pool = pool
    }

    /// Gives the pixels back to the source's pool for a later frame; the frame is empty afterwards.
    public mutating func recycle() {
        guard let pool else { return }
        let bytes = pixels
        pixels = []
        pool.recycle(bytes)
    }
}

/// A source of frames: synthetic, a file, a pipe from ffmpeg/GStreamer, a V4L2 camera.
///
/// `next()` blocks until a frame is ready and is called from one dedicated capture thread, never
/// from the cooperative pool. Live sources keep only the latest frame and count what they drop;
/// file sources never drop.
public protocol FrameSource: AnyObject, Sendable {
    /// A description for logs and status (`file:/data/a.y4m`, `v4l2:/dev/video0`).
    var description: String { get }
    /// True for live sources (cameras, pipes from live pipelines) that drop rather than queue.
    var isLive: Bool { get }
    /// Blocks for the next frame; `nil` at the end of the stream.
    func next() throws -> Frame?
    /// Frames the source dropped so far (live sources only), by reason.
    var droppedFrames: [String: Int] { get }
    /// The size of its frames when known before the first one (see `FrameSource+Size.swift`).
    var frameSize: FrameSize? { get }
    /// Stops the source and releases its resources; a blocked `next()` returns nil.
    func close()
}
