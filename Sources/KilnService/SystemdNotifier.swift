import Foundation
import Glibc
import KilnCore

/// sd_notify(3), natively: sends service state to systemd over `$NOTIFY_SOCKET`.
///
/// The socket is an AF_UNIX datagram socket, a filesystem path or, with a leading `@`, an
/// abstract-namespace name. Without `$NOTIFY_SOCKET` (not started by systemd with Type=notify)
/// every call is a no-op, so the agent calls it unconditionally.
public struct SystemdNotifier: Sendable {
    /// The socket address (`/run/systemd/notify`, `@/org/freedesktop/systemd1/notify/…`), or nil.
    public let socketPath: String?

    /// A notifier for `$NOTIFY_SOCKET` in `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let path = environment["NOTIFY_SOCKET"]
        self.socketPath = (path?.isEmpty ?? true) ? nil : path
    }

    /// A notifier for an explicit socket path (`@name` for the abstract namespace).
    public init(socketPath: String?) { self.socketPath = socketPath }

    /// True when a notify socket is configured.
    public var isEnabled: Bool { socketPath != nil }

    /// The watchdog interval systemd expects pings within (`$WATCHDOG_USEC`, for this process per
    /// `$WATCHDOG_PID`), in seconds; nil when the watchdog is off.
    public static func watchdogInterval(environment: [String: String] = ProcessInfo.processInfo.environment) -> Double? {
        guard let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"].flatMap(Int32.init), pid != getpid() { return nil }
        return Double(usec) / 1_000_000
    }

    /// Sends `READY=1`, with an optional status line.
    public func ready(status: String? = nil) throws {
        try notify(["READY=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// Sends `STATUS=…` (shown by `systemctl status`).
    public func status(_ text: String) throws { try notify(["STATUS=\(text)"]) }

    /// Sends `WATCHDOG=1`: the service is alive and healthy.
    public func watchdog() throws { try notify(["WATCHDOG=1"]) }

    /// Sends `RELOADING=1` with `MONOTONIC_USEC` (as Type=notify-reload requires); send `ready()` when done.
    public func reloading() throws {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let usec = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        try notify(["RELOADING=1", "MONOTONIC_USEC=\(usec)"])
    }

    /// Sends `STOPPING=1`: the service is draining and will exit.
    public func stopping() throws { try notify(["STOPPING=1"]) }

    /// Sends assignments (`KEY=VALUE`), newline-separated, in one datagram.
    public func notify(_ assignments: [String]) throws {
        guard let path = socketPath else { return }
        for a in assignments where !a.contains("=") || a.contains("\n") {
            throw ServiceError("sd_notify: invalid assignment \(a.debugDescription): expected one KEY=VALUE line")
        }
        let message = Array(assignments.joined(separator: "\n").utf8)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServiceError("sd_notify \(path): socket: \(Errno.current)") }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        let abstract = pathBytes.first == UInt8(ascii: "@")
        if abstract { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard pathBytes.count < capacity, path.hasPrefix("/") || abstract else {
            throw ServiceError("NOTIFY_SOCKET \(path): expected an absolute path or @abstract name under \(capacity) bytes")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        // Never blocks: a receiver that stops reading (a full datagram queue: net.unix.max_dgram_qlen,
        // 10 by default) costs this notification (EAGAIN, reported), never the agent's progress.
        // Abstract names are not NUL-terminated: the length says where they end.
        let length = MemoryLayout<sa_family_t>.size + pathBytes.count + (abstract ? 0 : 1)
        let sent = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                Posix.retrying {
                    message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), sa, socklen_t(length)) }
                }
            }
        }
        switch sent {
        case .success(message.count): return
        case .success(let n): throw ServiceError("sd_notify \(path): sent \(n) of \(message.count) bytes")
        case .failure(let error): throw ServiceError("sd_notify \(path): send failed: \(error)")
        }
    }
}
