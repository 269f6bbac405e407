import Foundation
import Glibc
import KilnService
import KilnTestSupport
import Testing

@Suite struct SystemdNotifierTests {
    @Test func sendsEveryStateToAFilesystemNotifySocket() throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-notify")
        defer { try? FileManager.default.removeItem(at: dir) }
        let socket = try NotifySocket(dir.appendingPathComponent("notify").path)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.name])
        #expect(notifier.isEnabled)
        try notifier.ready(status: "2 streams, 29.9 fps")
        #expect(socket.receive() == "READY=1\nSTATUS=2 streams, 29.9 fps")
        try notifier.status("30.0 fps")
        #expect(socket.receive() == "STATUS=30.0 fps")
        try notifier.watchdog()
        #expect(socket.receive() == "WATCHDOG=1")
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let before = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        try notifier.reloading()
        let reload = try #require(socket.receive())
        let lines = reload.split(separator: "\n")
        #expect(lines.first == "RELOADING=1")
        let usec = try #require(lines.last.flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) })
        #expect(lines.last!.hasPrefix("MONOTONIC_USEC=") && usec >= before && usec < before + 5_000_000)
        try notifier.stopping()
        #expect(socket.receive() == "STOPPING=1")
    }

    @Test func reachesAnAbstractNamespaceSocket() throws {
        let name = "@kiln-test-\(UUID().uuidString)"
        let socket = try NotifySocket(name)
        try SystemdNotifier(socketPath: name).ready()
        #expect(socket.receive() == "READY=1")
    }

    @Test func withoutNotifySocketEveryCallIsANoOp() throws {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled)
        try notifier.ready()
        try notifier.watchdog()
    }

    @Test func aMissingSocketOrBadAssignmentIsAnErrorNamingIt() {
        let notifier = SystemdNotifier(socketPath: "/nonexistent/kiln-notify")
        #expect { try notifier.ready() } throws: { "\($0)".contains("/nonexistent/kiln-notify") }
        #expect(throws: ServiceError.self) { try SystemdNotifier(socketPath: "relative/path").ready() }
        #expect(throws: ServiceError.self) { try SystemdNotifier(socketPath: "@x").notify(["STATUS=a\nWATCHDOG=1"]) }
    }

    @Test func watchdogIntervalHonoursWatchdogPid() {
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000"]) == 30)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid())"]) == 30)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"]) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: [:]) == nil)
    }

    @Test func watchdogPingsOnlyWhileTheLoopIsHealthy() throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-wd")
        defer { try? FileManager.default.removeItem(at: dir) }
        let socket = try NotifySocket(dir.appendingPathComponent("notify").path)
        let health = LoopHealth(maxSilence: 0.3)
        let made = SystemdWatchdog.fromEnvironment(
            health: health, statusLine: { "cam0 25.0 fps" },
            environment: ["NOTIFY_SOCKET": socket.name, "WATCHDOG_USEC": "2000000"])
        let watchdog = try #require(made)
        #expect(watchdog.period == 1)
        // No frame yet: status only, no ping.
        #expect(!watchdog.tick())
        #expect(socket.receive() == "STATUS=cam0 25.0 fps")
        health.beat()
        #expect(watchdog.tick())
        #expect(socket.receive() == "STATUS=cam0 25.0 fps\nWATCHDOG=1")
        // The loop stalls: pings stop, so systemd's watchdog fires.
        Thread.sleep(forTimeInterval: 0.4)
        #expect(!watchdog.tick())
        #expect(socket.receive() == "STATUS=cam0 25.0 fps")
        health.beat()
        health.fail("engine lost")
        #expect(!watchdog.tick())
        #expect(socket.receive() == "STATUS=cam0 25.0 fps")
        #expect(socket.isEmpty())
    }
}
