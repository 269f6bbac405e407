import Foundation
import Glibc
import KilnCore
import Synchronization

/// Writes results as JSON lines to a Unix stream socket another process listens on
/// (`--results unix:PATH`), from its own thread, so a slow, stalled or absent reader never
/// blocks the loop.
///
/// Lines wait in a bounded `PublishQueue` (oldest dropped and counted when full). The socket is
/// connected lazily and reconnected with backoff (0.1 s to 2 s) when the reader is absent or
/// restarts; writes are non-blocking with `poll`, so a reader that stops reading only fills
/// the queue. A line is never interleaved: one cut by a lost connection is counted as dropped
/// and the next connection starts at a line boundary.
public final class UnixSocketPublisher: QueuedPublisher {
    /// The socket path.
    public let path: String
    /// Lines waiting for the publisher thread.
    public let queue: PublishQueue<Data>
    /// When `close` began: a stalled reader gets until then + the grace, then the rest is dropped.
    private let closeDeadline = Mutex<Double?>(nil)

    /// Starts the publisher thread; at most `capacity` lines wait.
    public init(path: String, capacity: Int = 1024, onChange: (@Sendable (_ delivered: Int, _ dropped: Int) -> Void)? = nil) throws {
        guard Array(path.utf8).count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw PostprocessError("--results unix:\(path): socket path too long (at most \(MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1) bytes)",
                                   exitCode: .usage)
        }
        self.path = path
        queue = PublishQueue(capacity: capacity, onChange: onChange)
        queue.startPublisher(named: "kiln-results-unix") { [self] in run() }
    }

    /// Queues one line (with its newline); never blocks.
    public func enqueue(_ line: Data) { queue.push(line) }

    /// Writes what is queued for up to `grace` seconds, then stops.
    public func close(grace: Double = 2) {
        closeDeadline.withLock { $0 = MonotonicClock.now + grace }
        queue.close(grace: grace)
    }

    private func run() {
        var fd: Int32 = -1
        defer { if fd >= 0 { Glibc.close(fd) } }
        var backoff = 0.1
        while true {
            let batch = queue.batch(limit: 64, deadline: Date().addingTimeInterval(3600))
            if batch.isEmpty {
                if queue.isClosing { return }
                continue
            }
            var index = 0
            while index < batch.count {
                if fd < 0 {
                    switch connect() {
                    case .success(let connected):
                        fd = connected
                        backoff = 0.1
                    case .failure(let why):
                        report(why.message)
                        if queue.isClosing {
                            queue.discarded(batch.count - index)
                            return
                        }
                        queue.pause(backoff)
                        backoff = min(2, backoff * 2)
                        continue
                    }
                }
                switch send(batch[index], fd: fd) {
                case .sent:
                    queue.delivered()
                    index += 1
                case .closing:
                    queue.discarded(batch.count - index)
                    return
                case .lost(let why, let partial):
                    report(why)
                    Glibc.close(fd)
                    fd = -1
                    // A line cut in the middle is lost; the next connection starts with a whole one.
                    if partial {
                        queue.discarded()
                        index += 1
                    }
                }
            }
        }
    }

    private func connect() -> Result<Int32, PostprocessError> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .failure(PostprocessError("cannot create a socket: \(Errno.current)")) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        // A Unix socket connects at once or fails (EAGAIN: the listener's backlog is full).
        guard rc == 0 else {
            let e = Errno.current
            Glibc.close(fd)
            return .failure(PostprocessError("cannot connect (\(e)); results queue until a reader listens on \(path)"))
        }
        return .success(fd)
    }

    private enum Sent { case sent, closing, lost(String, partial: Bool) }

    /// Writes all of `line`, waiting for the reader with `poll` in short steps so a stalled
    /// reader never holds the thread past `close`.
    private func send(_ line: Data, fd: Int32) -> Sent {
        line.withUnsafeBytes { raw -> Sent in
            var off = 0
            while off < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n > 0 {
                    off += n
                    continue
                }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    if let deadline = closeDeadline.withLock({ $0 }), MonotonicClock.now >= deadline { return .closing }
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 200)
                    continue
                }
                return .lost("the reader went away (\(Errno.current)); reconnecting", partial: off > 0)
            }
            return .sent
        }
    }

    /// Logs a failure once per distinct message (an absent reader is not a log flood).
    private func report(_ why: String) {
        if queue.noteFailure(why) { Log.warning("results unix:\(path): \(why)") }
    }
}
