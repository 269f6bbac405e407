import Foundation
import Glibc
import KilnCore
import Synchronization

/// Frames from any program writing raw frames (or YUV4MPEG2) to its stdout: ffmpeg, GStreamer's
/// `gst-launch-1.0 … ! fdsink fd=1`, `nvarguscamerasrc` pipelines, RTSP clients.
///
/// The command runs under `/bin/sh -c`. With a geometry the stream is headerless raw frames of
/// that size; without one it must be YUV4MPEG2 (`ffmpeg -f yuv4mpegpipe`, GStreamer `y4menc`),
/// whose header gives the size. Non-live (default), the pipe's back-pressure paces the producer
/// and no frame is lost; live, a thread drains the pipe and only the latest frame is kept
/// (drops counted as `stale`). A producer that exits non-zero is an error carrying its stderr.
public final class PipeSource: FrameSource {
    public let description: String
    public let isLive: Bool
    /// The command as given to `/bin/sh -c`.
    public let command: String
    /// The geometry of frames on the pipe (before conversion to RGB24).
    public let geometry: RawGeometry
    private let process: Subprocess
    private let decoder: FrameStreamDecoder
    private let live: LiveFrameBuffer?
    private let stderrTail = OutputTail()
    private let closed = Mutex(false)
    private let readLock = Mutex(())

    /// Starts `command`; `geometry` nil means the program writes YUV4MPEG2.
    public init(command: String, geometry: RawGeometry?, live: Bool = false, stream: String, description: String? = nil) throws {
        self.command = command
        self.isLive = live
        let name = description ?? "pipe:\(command)"
        self.description = name
        let process: Subprocess
        do { process = try Subprocess.shell(command) } catch { throw VideoSourceError("\(name): \(error)") }
        self.process = process
        let tail = stderrTail
        let errFD = process.standardError!.rawValue
        let errThread = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(errFD, &buffer, buffer.count)
                if n <= 0 { break }
                tail.bytes.withLock { t in
                    t.append(contentsOf: buffer[0..<n])
                    if t.count > 4096 { t.removeFirst(t.count - 4096) }
                }
            }
            Glibc.close(errFD)
            tail.done.withLock { $0 = true }
        }
        errThread.name = "kiln-pipe-stderr"
        errThread.start()

        let reader = FileDescriptorReader(fd: process.standardOutput.rawValue, name: name)
        let decoder: FrameStreamDecoder
        do {
            if let geometry {
                decoder = FrameStreamDecoder(reader: reader, raw: geometry, stream: stream)
            } else {
                decoder = try FrameStreamDecoder(reader: reader, y4mStream: stream)
            }
        } catch {
            throw Self.explain(error, process: process, tail: tail, name: name)
        }
        self.decoder = decoder
        self.geometry = decoder.geometry
        if live {
            let checked: @Sendable () throws -> Frame? = { [decoder, process, tail, name] in
                do {
                    if let f = try decoder.next() { return f }
                } catch {
                    throw Self.explain(error, process: process, tail: tail, name: name)
                }
                if let failure = Self.exitFailure(process: process, tail: tail, name: name) { throw failure }
                return nil
            }
            self.live = LiveFrameBuffer(name: "kiln-capture-pipe") { _ in try checked() }
        } else {
            self.live = nil
        }
    }

    /// The error to report for a decoding failure: the producer's own failure when the stream
    /// simply ended early, otherwise the decoding error. Stops reading first, so a producer
    /// blocked on a full pipe exits instead of deadlocking the wait.
    static func explain(_ error: any Error, process: Subprocess, tail: OutputTail, name: String) -> any Error {
        let endedEarly = (error as? VideoSourceError)?.endedEarly ?? false
        if !endedEarly {
            process.terminate()
            process.wait()
            return error
        }
        return exitFailure(process: process, tail: tail, name: name) ?? error
    }

    /// The producer's failure, if it exited non-zero (waits for it to exit).
    static func exitFailure(process: Subprocess, tail: OutputTail, name: String) -> VideoSourceError? {
        guard let code = process.wait().status, code != 0 else { return nil }
        // Let the stderr reader drain what the producer wrote last (it ends at the pipe's EOF).
        for _ in 0..<100 where !tail.done.withLock({ $0 }) { usleep(10_000) }
        let text = String(decoding: tail.bytes.withLock { $0 }, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return VideoSourceError("\(name): the producer exited with status \(code)\(text.isEmpty ? "" : ": \(text)")")
    }

    public func next() throws -> Frame? {
        if closed.withLock({ $0 }) { return nil }
        if let live { return try live.next() }
        return try readLock.withLock { _ -> Frame? in
            do {
                if let frame = try decoder.next() { return frame }
            } catch {
                if closed.withLock({ c in defer { c = true }; return c }) { return nil }
                throw Self.explain(error, process: process, tail: stderrTail, name: description)
            }
            if closed.withLock({ $0 }) { return nil }
            if let failure = Self.exitFailure(process: process, tail: stderrTail, name: description) { throw failure }
            return nil
        }
    }

    public var droppedFrames: [String: Int] { live?.droppedFrames ?? [:] }

    public func close() {
        let first = closed.withLock { c -> Bool in defer { c = true }; return !c }
        guard first else { return }
        process.terminate()
        live?.stop()
        process.wait()
    }

    deinit {
        close()
        process.standardOutput.closeIgnoringErrors()
    }

}

/// The last few KB a producer wrote to stderr, for error messages.
final class OutputTail: Sendable {
    let bytes = Mutex<[UInt8]>([])
    let done = Mutex(false)
}
