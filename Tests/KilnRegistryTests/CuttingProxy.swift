import Foundation
import Glibc
import KilnTestSupport
import Synchronization

/// A TCP proxy on loopback in front of a registry that cuts the connection after `cutAfter`
/// response bytes of the first `cuts` GETs of one blob: a download interrupted mid-transfer.
/// It records request heads so tests can see the `Range` headers of the resumed requests. With
/// `bytesPerSecond` it also throttles every response to that rate (a slow link).
final class CuttingProxy: @unchecked Sendable {
    private var server: LoopbackServer!
    let target: Int
    let blobPath: String
    let cutAfter: Int
    let bytesPerSecond: Int
    private let cutsLeft: Mutex<Int>
    let requests = Mutex<[String]>([])
    var port: Int { server.port }
    var host: String { "127.0.0.1:\(port)" }

    init(targetPort: Int, blobDigest: String, cutAfter: Int, cuts: Int, bytesPerSecond: Int = 0) throws {
        target = targetPort
        self.bytesPerSecond = bytesPerSecond
        blobPath = "/blobs/\(blobDigest)"
        self.cutAfter = cutAfter
        cutsLeft = Mutex(cuts)
        server = try LoopbackServer { [unowned self] fd in self.handle(fd) }
    }

    func stop() { server.stop() }

    private func handle(_ client: Int32) {
        let upstream = LoopbackServer.connect(port: target, timeout: 30)
        guard upstream >= 0 else {
            close(client)
            return
        }
        // Which response bytes to allow before cutting; Int.max = never cut.
        let budget = Atomic<Int>(Int.max)
        let done = DispatchSemaphore(value: 0)
        Thread { [self] in
            // client -> upstream, one request head at a time (bodies pass through as-is).
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(client, &buf, buf.count)
                if n <= 0 { break }
                let text = String(decoding: buf.prefix(n), as: UTF8.self)
                if text.hasPrefix("GET ") || text.hasPrefix("HEAD ") || text.hasPrefix("PUT ") || text.hasPrefix("POST ") || text.hasPrefix("PATCH ") {
                    if let end = text.range(of: "\r\n\r\n") { requests.withLock { $0.append(String(text[..<end.lowerBound])) } }
                    if text.hasPrefix("GET "), text.split(separator: "\r\n").first?.contains(blobPath) == true {
                        let cut = cutsLeft.withLock { left -> Bool in
                            if left > 0 { left -= 1; return true }
                            return false
                        }
                        if cut { budget.store(cutAfter, ordering: .relaxed) }
                    }
                }
                if !LoopbackServer.writeAll(upstream, Array(buf.prefix(n))) { break }
            }
            shutdown(upstream, Int32(SHUT_RDWR))
            done.signal()
        }.start()
        var buf = [UInt8](repeating: 0, count: 16384)
        let started = Date()
        var sent = 0
        while true {
            let n = read(upstream, &buf, bytesPerSecond > 0 ? min(buf.count, max(1024, bytesPerSecond / 50)) : buf.count)
            if n <= 0 { break }
            if bytesPerSecond > 0 {
                sent += n
                let due = Double(sent) / Double(bytesPerSecond) - Date().timeIntervalSince(started)
                if due > 0 { usleep(useconds_t(due * 1_000_000)) }
            }
            let allowed = budget.load(ordering: .relaxed)
            if allowed != Int.max && n >= allowed {
                LoopbackServer.writeAll(client, Array(buf.prefix(allowed)))
                break
            }
            if allowed != Int.max { budget.store(allowed - n, ordering: .relaxed) }
            if !LoopbackServer.writeAll(client, Array(buf.prefix(n))) { break }
        }
        shutdown(client, Int32(SHUT_RDWR))
        shutdown(upstream, Int32(SHUT_RDWR))
        done.wait()
        close(client)
        close(upstream)
    }
}
