import Foundation
import Synchronization

/// Kiln's logger: one line per event on stderr, with a journald priority prefix under systemd.
///
/// Under systemd (`JOURNAL_STREAM` set) lines start with `<N>` (sd-daemon(3) priorities) so
/// journald records the level; otherwise they start with the level name.
public enum Log {
    /// Syslog priorities, as journald understands them.
    public enum Level: Int, Sendable, Comparable {
        case error = 3, warning = 4, notice = 5, info = 6, debug = 7
        public static func < (a: Level, b: Level) -> Bool { a.rawValue > b.rawValue }
        var name: String {
            switch self {
            case .error: "error"
            case .warning: "warning"
            case .notice: "notice"
            case .info: "info"
            case .debug: "debug"
            }
        }
    }

    private static let threshold = Mutex<Level>(
        ProcessInfo.processInfo.environment["KILN_LOG_LEVEL"].flatMap { name in
            [Level.error, .warning, .notice, .info, .debug].first { $0.name == name }
        } ?? .info)
    private static let journald = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil

    /// Sets the lowest level that is printed.
    public static func setLevel(_ level: Level) { threshold.withLock { $0 = level } }

    /// Writes one line at `level`.
    public static func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level >= threshold.withLock({ $0 }) else { return }
        let line = journald ? "<\(level.rawValue)>\(message())\n" : "kiln: \(level.name): \(message())\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Logs an error.
    public static func error(_ m: @autoclosure () -> String) { log(.error, m()) }
    /// Logs a warning.
    public static func warning(_ m: @autoclosure () -> String) { log(.warning, m()) }
    /// Logs a notice: a significant, normal event (a rollout step, a cache miss).
    public static func notice(_ m: @autoclosure () -> String) { log(.notice, m()) }
    /// Logs information.
    public static func info(_ m: @autoclosure () -> String) { log(.info, m()) }
    /// Logs debugging detail.
    public static func debug(_ m: @autoclosure () -> String) { log(.debug, m()) }
}
