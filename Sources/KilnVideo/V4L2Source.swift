#if os(Linux)
import Foundation
import Glibc
import KilnCore
import Synchronization

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
        live = LiveFrameBuffer(name: "kiln-capture-v4l2") { [device] live in try device.capture(stream: stream, drops: live) }
    }

    public func next() throws -> Frame? { try live.next() }
    public var droppedFrames: [String: Int] { live.droppedFrames }

    public func close() {
        device.stop()
        live.stop()
    }

    deinit { close() }
}

/// The ioctl layer of a V4L2 capture device (videodev2.h layouts for 64-bit Linux).
final class V4L2Device: Sendable {
    /// The ioctls Kiln issues, by their videodev2.h names: `_IOR/_IOW/_IOWR('V', n, size)` for the
    /// 64-bit struct sizes.
    enum Request: UInt {
        case querycap = 0x8068_5600
        case setFormat = 0xC0D0_5605
        case requestBuffers = 0xC014_5608
        case queryBuffer = 0xC058_5609
        case queueBuffer = 0xC058_560F
        case dequeueBuffer = 0xC058_5611
        case streamOn = 0x4004_5612
        case streamOff = 0x4004_5613
    }

    /// `v4l2_capability.capabilities` bits Kiln checks.
    struct Capabilities: OptionSet {
        let rawValue: UInt32
        static let videoCapture = Capabilities(rawValue: 0x1)
        static let streaming = Capabilities(rawValue: 0x0400_0000)
        /// `device_caps` is filled in and describes this node (the other field, the whole device).
        static let deviceCaps = Capabilities(rawValue: 0x8000_0000)
    }

    static let bufTypeCapture: UInt32 = 1
    static let memoryMMap: UInt32 = 1

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
    /// The mmap'ed driver buffers (address, length), mapped in `init`, read by the capture thread.
    private let buffers = Mutex<[(address: UInt, length: Int)]>([])
    /// The driver's sequence number of the last dequeued buffer (the capture thread's).
    private let lastSequence = Mutex<UInt32?>(nil)
    /// Set once by `stop()` (any thread); the capture thread polls it.
    private let stopped = Atomic<Bool>(false)

    init(path: String, width: Int?, height: Int?, format: PixelFormat?) throws {
        self.path = path
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            let hint = e == ENOENT ? "no such device; list cameras with `v4l2-ctl --list-devices`"
                : e == EACCES ? "permission denied; add the user to group video (the systemd unit has SupplementaryGroups=video)"
                : "\(Errno(rawValue: e))"
            throw VideoSourceError("v4l2:\(path): cannot open: \(hint)")
        }
        self.fd = fd
        do {
            var cap = [UInt8](repeating: 0, count: 104)
            guard Self.ioctlRetry(fd, .querycap, &cap) == 0 else {
                throw VideoSourceError("v4l2:\(path): not a V4L2 device (VIDIOC_QUERYCAP: \(Errno.current)); cameras are /dev/videoN")
            }
            var caps = Capabilities(rawValue: Self.u32(cap, 84))
            if caps.contains(.deviceCaps) { caps = Capabilities(rawValue: Self.u32(cap, 88)) }
            let card = String(decoding: cap[16..<48].prefix { $0 != 0 }, as: UTF8.self)
            guard caps.contains(.videoCapture) else {
                throw VideoSourceError("v4l2:\(path) (\(card)) is not a single-planar video capture device; try another /dev/videoN")
            }
            guard caps.contains(.streaming) else {
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
                guard Self.ioctlRetry(fd, .setFormat, &fmt) == 0 else { continue }
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
            guard ioctl(fd, Request.streamOn.rawValue, &type) == 0 else {
                throw VideoSourceError("v4l2:\(path): VIDIOC_STREAMON failed: \(Errno.current)")
            }
        } catch {
            for (address, length) in buffers.withLock({ $0 }) { munmap(UnsafeMutableRawPointer(bitPattern: address), length) }
            Glibc.close(fd)
            throw error
        }
    }

    private func mapBuffers(count: Int) throws {
        var req = [UInt8](repeating: 0, count: 20)
        Self.put(&req, 0, UInt32(count))
        Self.put(&req, 4, Self.bufTypeCapture)
        Self.put(&req, 8, Self.memoryMMap)
        guard Self.ioctlRetry(fd, .requestBuffers, &req) == 0, Self.u32(req, 0) >= 2 else {
            throw VideoSourceError("v4l2:\(path): cannot allocate mmap buffers (VIDIOC_REQBUFS: \(Errno.current))")
        }
        for i in 0..<Int(Self.u32(req, 0)) {
            var buf = Self.buffer(index: i)
            guard Self.ioctlRetry(fd, .queryBuffer, &buf) == 0 else {
                throw VideoSourceError("v4l2:\(path): VIDIOC_QUERYBUF \(i) failed: \(Errno.current)")
            }
            let length = Int(Self.u32(buf, 72)), offset = off_t(Self.u32(buf, 64))
            guard let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset), p != MAP_FAILED else {
                throw VideoSourceError("v4l2:\(path): mmap of buffer \(i) failed: \(Errno.current)")
            }
            buffers.withLock { $0.append((UInt(bitPattern: p), length)) }
            guard Self.ioctlRetry(fd, .queueBuffer, &buf) == 0 else {
                throw VideoSourceError("v4l2:\(path): VIDIOC_QBUF \(i) failed: \(Errno.current)")
            }
        }
    }

    /// Dequeues the next filled buffer, converts it to RGB24, requeues it. Nil once stopped.
    func capture(stream: String, drops: LiveFrameBuffer) throws -> Frame? {
        while true {
            if stopped.load(ordering: .acquiring) { return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready: Int32
            switch Posix.retrying({ poll(&pfd, 1, 200) }) {
            case .success(let n): ready = n
            case .failure(let error): throw VideoSourceError("v4l2:\(path): poll failed: \(error)")
            }
            if stopped.load(ordering: .acquiring) { return nil }
            if ready == 0 { continue }
            let start = MonotonicClock.now
            var buf = Self.buffer(index: 0)
            guard Self.ioctlRetry(fd, .dequeueBuffer, &buf) == 0 else {
                if errno == EAGAIN { continue }
                if stopped.load(ordering: .acquiring) { return nil }
                throw VideoSourceError("v4l2:\(path): VIDIOC_DQBUF failed: \(Errno.current); was the camera unplugged?")
            }
            let index = Int(Self.u32(buf, 0)), used = Int(Self.u32(buf, 8)), sequence = Self.u32(buf, 56)
            let last = lastSequence.withLock { last in
                defer { last = sequence }
                return last
            }
            if let last, sequence > last + 1 { drops.recordDrops("driver", Int(sequence - last - 1)) }
            let g = geometry
            let pixels = used >= g.frameBytes
                ? PixelConversion.toRGB24(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: buffers.withLock { $0[index].address }), count: g.frameBytes), format: g.format, width: g.width, height: g.height)
                : nil
            _ = Self.ioctlRetry(fd, .queueBuffer, &buf)
            guard let pixels else {
                drops.recordDrops("short_buffer", 1)
                continue
            }
            let now = MonotonicClock.now
            return Frame(stream: stream, index: Int(sequence), width: g.width, height: g.height, format: .rgb24, pixels: pixels,
                         captureTime: now, captureSeconds: now - start)
        }
    }

    func stop() {
        guard stopped.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        var type = Int32(Self.bufTypeCapture)
        _ = ioctl(fd, Request.streamOff.rawValue, &type)
    }

    deinit {
        stop()
        for (address, length) in buffers.withLock({ $0 }) { munmap(UnsafeMutableRawPointer(bitPattern: address), length) }
        Glibc.close(fd)
    }

    static func buffer(index: Int) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 88)
        put(&buf, 0, UInt32(index))
        put(&buf, 4, bufTypeCapture)
        put(&buf, 60, memoryMMap)
        return buf
    }

    /// `ioctl` on `bytes`, retried on EINTR; -1 with `errno` set on failure.
    static func ioctlRetry(_ fd: Int32, _ request: Request, _ bytes: inout [UInt8]) -> Int32 {
        switch Posix.retrying({ bytes.withUnsafeMutableBytes { ioctl(fd, request.rawValue, $0.baseAddress!) } }) {
        case .success(let rc): return rc
        case .failure(let error):
            errno = error.rawValue
            return -1
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
