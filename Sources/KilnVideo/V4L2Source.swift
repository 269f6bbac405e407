#if os(Linux)
import Foundation
import Glibc
import KilnCore

/// A V4L2 camera (`/dev/videoN`) captured directly with mmap streaming I/O.
///
/// Negotiates YUYV, NV12 or RGB24 at the requested size (the driver may adjust it; the frames
/// carry what it chose) and converts to RGB24. MJPEG-only cameras are refused with the
/// GStreamer pipeline that decodes them (`gst:` source). A live source: a dedicated thread
/// dequeues continuously and keeps only the latest frame; replaced frames count as `stale`
/// drops, gaps in the driver's sequence numbers as `driver` drops.
public final class V4L2Source: FrameSource {
    public let description: String
    public var isLive: Bool { true }
    /// The negotiated geometry (before conversion to RGB24).
    public let geometry: RawGeometry
    private let device: V4L2Device
    private let live: LiveFrameBuffer

    /// Opens `path`, negotiates `width`×`height` (driver default when nil) in `format` (first
    /// supported of YUYV, NV12, RGB24 when nil), maps buffers and starts streaming.
    public init(path: String, width: Int? = nil, height: Int? = nil, format: PixelFormat? = nil, stream: String) throws {
        description = "v4l2:\(path)"
        device = try V4L2Device(path: path, width: width, height: height, format: format)
        geometry = device.geometry
        let device = self.device
        let counter = DropCounter()
        let live = LiveFrameBuffer(name: "kiln-capture-v4l2") { [device] in try device.capture(stream: stream, drops: counter) }
        counter.sink = live
        self.live = live
    }

    public func next() throws -> Frame? { try live.next() }
    public var droppedFrames: [String: Int] { live.droppedFrames }

    public func close() {
        device.stop()
        live.stop()
    }

    deinit { close() }
}

/// Forwards driver-reported drops to the live buffer once it exists.
final class DropCounter: @unchecked Sendable {
    weak var sink: LiveFrameBuffer?
}

/// The ioctl layer of a V4L2 capture device (videodev2.h layouts for 64-bit Linux).
final class V4L2Device: @unchecked Sendable {
    // ioctl request numbers: _IOR/_IOWR('V', n, size) for the 64-bit struct sizes.
    static let VIDIOC_QUERYCAP: UInt = 0x8068_5600
    static let VIDIOC_S_FMT: UInt = 0xC0D0_5605
    static let VIDIOC_REQBUFS: UInt = 0xC014_5608
    static let VIDIOC_QUERYBUF: UInt = 0xC058_5609
    static let VIDIOC_QBUF: UInt = 0xC058_560F
    static let VIDIOC_DQBUF: UInt = 0xC058_5611
    static let VIDIOC_STREAMON: UInt = 0x4004_5612
    static let VIDIOC_STREAMOFF: UInt = 0x4004_5613
    static let bufTypeCapture: UInt32 = 1
    static let memoryMMap: UInt32 = 1
    static let capVideoCapture: UInt32 = 0x1
    static let capStreaming: UInt32 = 0x0400_0000
    static let capDeviceCaps: UInt32 = 0x8000_0000

    static func fourcc(_ s: String) -> UInt32 {
        let b = Array(s.utf8)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }
    static func fourccText(_ v: UInt32) -> String {
        String(decoding: (0..<4).map { UInt8(truncatingIfNeeded: v >> ($0 * 8)) }, as: UTF8.self)
    }
    static let supported: [(PixelFormat, String)] = [(.yuyv, "YUYV"), (.nv12, "NV12"), (.rgb24, "RGB3")]

    let path: String
    let fd: Int32
    let geometry: RawGeometry
    private var buffers: [(UnsafeMutableRawPointer, Int)] = []
    private var lastSequence: UInt32?
    private var stopped = false

    init(path: String, width: Int?, height: Int?, format: PixelFormat?) throws {
        self.path = path
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            let hint = e == ENOENT ? "no such device; list cameras with `v4l2-ctl --list-devices`"
                : e == EACCES ? "permission denied; add the user to group video (the systemd unit has SupplementaryGroups=video)"
                : String(cString: strerror(e))
            throw VideoSourceError("v4l2:\(path): cannot open: \(hint)")
        }
        self.fd = fd
        do {
            var cap = [UInt8](repeating: 0, count: 104)
            guard Self.ioctlRetry(fd, Self.VIDIOC_QUERYCAP, &cap) == 0 else {
                throw VideoSourceError("v4l2:\(path): not a V4L2 device (VIDIOC_QUERYCAP: \(String(cString: strerror(errno)))); cameras are /dev/videoN")
            }
            var caps = Self.u32(cap, 84)
            if caps & Self.capDeviceCaps != 0 { caps = Self.u32(cap, 88) }
            let card = String(decoding: cap[16..<48].prefix { $0 != 0 }, as: UTF8.self)
            guard caps & Self.capVideoCapture != 0 else {
                throw VideoSourceError("v4l2:\(path) (\(card)) is not a single-planar video capture device; try another /dev/videoN")
            }
            guard caps & Self.capStreaming != 0 else {
                throw VideoSourceError("v4l2:\(path) (\(card)) does not support streaming I/O; use a gst: source with v4l2src")
            }
            let candidates = format.map { f in Self.supported.filter { $0.0 == f } } ?? Self.supported
            if let f = format, candidates.isEmpty {
                throw VideoSourceError.usage("v4l2:\(path): format \(f.rawValue) is not capturable; use yuyv, nv12 or rgb24")
            }
            var chosen: RawGeometry?
            var offered: [String] = []
            for (pf, code) in candidates {
                var fmt = [UInt8](repeating: 0, count: 208)
                Self.put(&fmt, 0, Self.bufTypeCapture)
                Self.put(&fmt, 8, UInt32(width ?? 0))
                Self.put(&fmt, 12, UInt32(height ?? 0))
                Self.put(&fmt, 16, Self.fourcc(code))
                Self.put(&fmt, 20, 1)  // V4L2_FIELD_NONE
                guard Self.ioctlRetry(fd, Self.VIDIOC_S_FMT, &fmt) == 0 else { continue }
                let got = Self.u32(fmt, 16)
                offered.append(Self.fourccText(got))
                if got == Self.fourcc(code) {
                    let w = Int(Self.u32(fmt, 8)), h = Int(Self.u32(fmt, 12))
                    let bpl = Int(Self.u32(fmt, 24))
                    if pf != .nv12 && bpl != 0 && bpl != (pf == .yuyv ? w * 2 : w * 3) {
                        throw VideoSourceError("v4l2:\(path): padded rows (\(bpl) bytes per line for width \(w)) are not supported; pick another size")
                    }
                    chosen = RawGeometry(width: w, height: h, format: pf)
                    try chosen!.check(source: "v4l2:\(path): the driver's format")
                    break
                }
            }
            guard let geometry = chosen else {
                if offered.contains("MJPG") || offered.contains("JPEG") {
                    throw VideoSourceError(
                        "v4l2:\(path) (\(card)) only delivers MJPEG; Kiln does not decode JPEG itself. Use a decoding pipeline: --source 'gst:\(width ?? 1280)x\(height ?? 720):v4l2src device=\(path) ! image/jpeg ! jpegdec' (nvjpegdec on Jetson)")
                }
                throw VideoSourceError(
                    "v4l2:\(path) (\(card)): none of \(candidates.map { $0.0.rawValue }) accepted (driver offered \(offered)); use a gst: source with v4l2src")
            }
            self.geometry = geometry
            try mapBuffers(count: 4)
            var type = Int32(Self.bufTypeCapture)
            guard ioctl(fd, Self.VIDIOC_STREAMON, &type) == 0 else {
                throw VideoSourceError("v4l2:\(path): VIDIOC_STREAMON failed: \(String(cString: strerror(errno)))")
            }
        } catch {
            for (p, l) in buffers { munmap(p, l) }
            Glibc.close(fd)
            throw error
        }
    }

    private func mapBuffers(count: Int) throws {
        var req = [UInt8](repeating: 0, count: 20)
        Self.put(&req, 0, UInt32(count))
        Self.put(&req, 4, Self.bufTypeCapture)
        Self.put(&req, 8, Self.memoryMMap)
        guard Self.ioctlRetry(fd, Self.VIDIOC_REQBUFS, &req) == 0, Self.u32(req, 0) >= 2 else {
            throw VideoSourceError("v4l2:\(path): cannot allocate mmap buffers (VIDIOC_REQBUFS: \(String(cString: strerror(errno))))")
        }
        for i in 0..<Int(Self.u32(req, 0)) {
            var buf = Self.buffer(index: i)
            guard Self.ioctlRetry(fd, Self.VIDIOC_QUERYBUF, &buf) == 0 else {
                throw VideoSourceError("v4l2:\(path): VIDIOC_QUERYBUF \(i) failed: \(String(cString: strerror(errno)))")
            }
            let length = Int(Self.u32(buf, 72)), offset = off_t(Self.u32(buf, 64))
            guard let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset), p != MAP_FAILED else {
                throw VideoSourceError("v4l2:\(path): mmap of buffer \(i) failed: \(String(cString: strerror(errno)))")
            }
            buffers.append((p, length))
            guard Self.ioctlRetry(fd, Self.VIDIOC_QBUF, &buf) == 0 else {
                throw VideoSourceError("v4l2:\(path): VIDIOC_QBUF \(i) failed: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Dequeues the next filled buffer, converts it to RGB24, requeues it. Nil once stopped.
    func capture(stream: String, drops: DropCounter) throws -> Frame? {
        while true {
            if stopped { return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 200)
            if stopped { return nil }
            if ready == 0 { continue }
            if ready < 0 {
                if errno == EINTR { continue }
                throw VideoSourceError("v4l2:\(path): poll failed: \(String(cString: strerror(errno)))")
            }
            let start = MonotonicClock.now
            var buf = Self.buffer(index: 0)
            guard Self.ioctlRetry(fd, Self.VIDIOC_DQBUF, &buf) == 0 else {
                if errno == EAGAIN { continue }
                if stopped { return nil }
                throw VideoSourceError("v4l2:\(path): VIDIOC_DQBUF failed: \(String(cString: strerror(errno))); was the camera unplugged?")
            }
            let index = Int(Self.u32(buf, 0)), used = Int(Self.u32(buf, 8)), sequence = Self.u32(buf, 56)
            if let last = lastSequence, sequence > last + 1 { drops.sink?.recordDrops("driver", Int(sequence - last - 1)) }
            lastSequence = sequence
            let g = geometry
            let pixels = used >= g.frameBytes
                ? PixelConversion.toRGB24(UnsafeRawBufferPointer(start: buffers[index].0, count: g.frameBytes), format: g.format, width: g.width, height: g.height)
                : nil
            _ = Self.ioctlRetry(fd, Self.VIDIOC_QBUF, &buf)
            guard let pixels else {
                drops.sink?.recordDrops("short_buffer", 1)
                continue
            }
            let now = MonotonicClock.now
            return Frame(stream: stream, index: Int(sequence), width: g.width, height: g.height, format: .rgb24, pixels: pixels,
                         captureTime: now, captureSeconds: now - start)
        }
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        var type = Int32(Self.bufTypeCapture)
        _ = ioctl(fd, Self.VIDIOC_STREAMOFF, &type)
    }

    deinit {
        stop()
        for (p, l) in buffers { munmap(p, l) }
        Glibc.close(fd)
    }

    static func buffer(index: Int) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 88)
        put(&buf, 0, UInt32(index))
        put(&buf, 4, bufTypeCapture)
        put(&buf, 60, memoryMMap)
        return buf
    }

    static func ioctlRetry(_ fd: Int32, _ request: UInt, _ bytes: inout [UInt8]) -> Int32 {
        while true {
            let rc = bytes.withUnsafeMutableBytes { ioctl(fd, request, $0.baseAddress!) }
            if rc == -1 && errno == EINTR { continue }
            return rc
        }
    }

    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }

    static func put(_ b: inout [UInt8], _ o: Int, _ v: UInt32) {
        for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (i * 8)) }
    }
}
#endif
