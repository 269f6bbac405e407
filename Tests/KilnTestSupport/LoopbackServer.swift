import Foundation
import Glibc
import Synchronization

/// A TCP listener on 127.0.0.1 with a free port that hands each connection to a handler on
/// its own thread: the base of the test token issuer and the cutting proxy.
public final class LoopbackServer: @unchecked Sendable {
    /// The port it listens on.
    public let port: Int
    private let fd: Int32
    private let stopped = StopFlag()

    /// Listens on a free loopback port; each connection's socket goes to `handler` on its own thread.
    public init(handler: @escaping @Sendable (Int32) -> Void) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        let listener = fd
        let stopped = self.stopped
        let thread = Thread {
            while !stopped.flag.load(ordering: .relaxed) {
                let client = accept(listener, nil, nil)
                if client < 0 { if stopped.flag.load(ordering: .relaxed) { return } else { continue } }
                Thread { handler(client) }.start()
            }
        }
        thread.start()
    }

    /// Stops accepting.
    public func stop() {
        stopped.flag.store(true, ordering: .relaxed)
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// A blocking IPv4 connection to 127.0.0.1:`port` with `timeout` on reads and writes, or -1.
    public static func connect(port: Int, timeout: Double = 5) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { close(fd); return -1 }
        return fd
    }

    /// Sends `request` on a fresh connection to 127.0.0.1:`port` and reads until the server closes
    /// it (or `timeout` passes between reads); the whole response as text, nil when it cannot connect.
    public static func exchange(port: Int, _ request: String, timeout: Double = 5) -> String? {
        let fd = connect(port: port, timeout: timeout)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        writeAll(fd, Array(request.utf8))
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// A free loopback port (bound and released).
    public static func freePort() throws -> Int {
        let s = try LoopbackServer { close($0) }
        defer { s.stop() }
        return s.port
    }

    /// Reads an HTTP request head (up to the blank line) from a socket.
    public static func readHead(_ fd: Int32) -> String? {
        var data = [UInt8]()
        var byte: UInt8 = 0
        while data.count < 65536 {
            let n = read(fd, &byte, 1)
            if n <= 0 { return nil }
            data.append(byte)
            if data.count >= 4 && data.suffix(4) == [13, 10, 13, 10] { break }
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes all bytes to a socket.
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }
}

/// A shareable stop flag.
final class StopFlag: Sendable {
    let flag = Atomic<Bool>(false)
}
