import Foundation
import Glibc
import KilnCore
import Synchronization

/// Frames from a file: headerless raw frames of a known geometry, or a YUV4MPEG2 (`.y4m`) file.
///
/// A file source never drops: `next()` returns every frame in order, then nil.
public final class FileSource: FrameSource {
    public let description: String
    public var isLive: Bool { false }
    public var droppedFrames: [String: Int] { [:] }
    /// The geometry of the frames in the file (before conversion to RGB24).
    public let geometry: RawGeometry
    private let decoder: FrameStreamDecoder
    private let closed = Mutex(false)
    private let lock = Mutex(())

    /// Opens a raw file of `geometry`; its size must be a whole number of frames.
    public init(rawPath path: String, geometry: RawGeometry, stream: String) throws {
        let fd = try Self.open(path)
        var st = stat()
        fstat(fd, &st)
        if (st.st_mode & S_IFMT) == S_IFREG, Int(st.st_size) % geometry.frameBytes != 0 {
            Glibc.close(fd)
            throw VideoSourceError(
                "raw:\(path): \(st.st_size) bytes is not a whole number of \(geometry.width)x\(geometry.height) \(geometry.format.rawValue) frames (\(geometry.frameBytes) bytes each); check the size and format")
        }
        description = "raw:\(path):\(geometry.width)x\(geometry.height):\(geometry.format.rawValue)"
        decoder = FrameStreamDecoder(reader: FileDescriptorReader(fd: fd, name: "raw:\(path)"), raw: geometry, stream: stream)
        self.geometry = geometry
    }

    /// Opens a Y4M file and reads its header.
    public init(y4mPath path: String, stream: String) throws {
        let fd = try Self.open(path)
        do {
            decoder = try FrameStreamDecoder(reader: FileDescriptorReader(fd: fd, name: "y4m:\(path)"), y4mStream: stream)
        } catch {
            Glibc.close(fd)
            throw error
        }
        description = "y4m:\(path)"
        geometry = decoder.geometry
    }

    static func open(_ path: String) throws -> Int32 {
        do {
            return try FileDescriptor.open(path, .readOnly).rawValue
        } catch {
            throw VideoSourceError("\(path): cannot open video file: \(error.errno)")
        }
    }

    public func next() throws -> Frame? {
        try lock.withLock { _ in
            if closed.withLock({ $0 }) { return nil }
            return try decoder.next()
        }
    }

    public func close() {
        let first = closed.withLock { c -> Bool in defer { c = true }; return !c }
        if first { lock.withLock { _ in _ = Glibc.close(decoder.fd) } }
    }

    deinit { close() }
}
