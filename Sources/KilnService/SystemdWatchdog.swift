import Foundation
import KilnCore

/// A service that sends `WATCHDOG=1` at half the watchdog interval, but only while the loop is
/// healthy, so a hung loop makes systemd restart Kiln; also refreshes `STATUS=` with the FPS.
public struct SystemdWatchdog: Sendable {
    /// Where notifications go.
    public let notifier: SystemdNotifier
    /// Seconds between checks (half of `WatchdogSec`).
    public let period: Double
    /// Says whether the loop is healthy now.
    public let isHealthy: @Sendable () -> Bool
    /// The current `STATUS=` text (e.g. "3 streams, 29.8 fps"); nil sends none.
    public let statusLine: @Sendable () -> String?

    /// Creates a watchdog pinging every `period` seconds while `isHealthy()`.
    public init(notifier: SystemdNotifier, period: Double, isHealthy: @escaping @Sendable () -> Bool,
                statusLine: @escaping @Sendable () -> String? = { nil }) {
        self.notifier = notifier
        self.period = period
        self.isHealthy = isHealthy
        self.statusLine = statusLine
    }

    /// A watchdog for this process's `$WATCHDOG_USEC` (period = half of it; 5 s for status
    /// updates when the watchdog is off), or nil when there is no notify socket at all.
    public static func fromEnvironment(health: LoopHealth, statusLine: @escaping @Sendable () -> String? = { nil },
                                       environment: [String: String] = ProcessInfo.processInfo.environment) -> SystemdWatchdog? {
        let notifier = SystemdNotifier(environment: environment)
        guard notifier.isEnabled else { return nil }
        let interval = SystemdNotifier.watchdogInterval(environment: environment)
        let watchdogOn = interval != nil
        return SystemdWatchdog(notifier: notifier, period: interval.map { $0 / 2 } ?? 5,
                               isHealthy: { watchdogOn && health.isHealthy() }, statusLine: statusLine)
    }

    /// One check: sends the status and, when healthy, `WATCHDOG=1`. Returns whether it pinged.
    @discardableResult
    public func tick() -> Bool {
        var assignments: [String] = []
        if let s = statusLine() { assignments.append("STATUS=\(s)") }
        let healthy = isHealthy()
        if healthy { assignments.append("WATCHDOG=1") }
        if !assignments.isEmpty {
            do { try notifier.notify(assignments) } catch { Log.warning("\(error)") }
        }
        return healthy
    }

    /// Checks every `period` seconds until cancelled.
    public func run() async throws {
        while !Task.isCancelled {
            tick()
            do { try await Task.sleep(for: .seconds(period)) } catch { return }
        }
    }
}
