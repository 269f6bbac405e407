import Foundation
import Glibc
import KilnService
import KilnTestSupport
import Synchronization
import Testing

/// The real `kiln demo` as systemd sees it: notifications on a datagram socket the test binds.
@Suite struct ServiceContractTests {
    @Test func kilnSendsReadyStatusWatchdogAndStoppingToTheNotifySocket() throws {
        guard let kiln = try TestEnvironment.tool(TestEnvironment.kilnExecutable) else { return }
        let dir = try TestEnvironment.temporaryDirectory("kiln-notify-e2e")
        defer { try? FileManager.default.removeItem(at: dir) }
        let socket = try NotifySocket(dir.appendingPathComponent("notify").path)
        // Read while kiln runs, as systemd does: the datagram queue holds only ~10 messages.
        let received = Mutex<[String]>([])
        let done = Atomic<Bool>(false)
        let reader = Thread {
            while !done.load(ordering: .acquiring) {
                if !socket.isEmptyAfter(0.1), let m = socket.receive() { received.withLock { $0.append(m) } }
            }
        }
        reader.start()
        let r = try TestEnvironment.run(kiln, [
            "demo", "--source", "synthetic:320x240@50", "--duration", "3s", "--report-interval", "1s",
            "--cache-dir", dir.appendingPathComponent("cache").path,
        ], environment: ["NOTIFY_SOCKET": socket.name, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": ""])
        #expect(r.status == 0, "kiln demo: \(r.stderr)")
        Thread.sleep(forTimeInterval: 0.3)
        done.store(true, ordering: .releasing)
        Thread.sleep(forTimeInterval: 0.2)
        var messages = received.withLock { $0 }
        while !socket.isEmptyAfter(0.2), let m = socket.receive() { messages.append(m) }
        let all = messages.joined(separator: "\n")
        let ready = messages.firstIndex { $0.contains("READY=1") }
        let stopping = messages.lastIndex { $0.contains("STOPPING=1") }
        #expect(ready != nil, "no READY=1 in \(messages)")
        #expect(stopping != nil && stopping! > ready!, "STOPPING=1 must come last: \(messages)")
        #expect(all.contains("WATCHDOG=1"), "frames flowed, so the watchdog must have been pet: \(messages)")
        #expect(all.range(of: #"STATUS=serving [0-9.]+ fps"#, options: .regularExpression) != nil, "no STATUS with fps in \(messages)")
    }
}

extension NotifySocket {
    /// True when nothing arrives within `seconds`.
    func isEmptyAfter(_ seconds: Double) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, Int32(seconds * 1000)) == 0
    }
}
