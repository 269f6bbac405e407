import Foundation
import Synchronization

/// Kiln's logger: one line per event on stderr, with a journald priority prefix under systemd.
///
/// When stderr is connected to journald (`JOURNAL_STREAM` names its device and inode) lines
/// start with `<N>` (sd-daemon(3) priorities) so journald records the level; otherwise they
/// start with the level name. The unit sets `SyslogLevel=err`, so every line Kiln writes to a
/// journal stream carries a prefix and what arrives without one (the Swift runtime's fatal
/// error messages, the backtracer's crash report) is recorded at err.
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

    /// The lowest level printed: `$KILN_LOG_LEVEL` (error, warning, notice, info, debug), default info.
    private static let threshold: Level =
        ProcessInfo.processInfo.environment["KILN_LOG_LEVEL"].flatMap { name in
            [Level.error, .warning, .notice, .info, .debug].first { $0.name == name }
        } ?? .info
    private static let journald = isJournalStream(2)
    private static let journaldStdout = isJournalStream(1)

    /// True when file descriptor `fd` is the stream systemd connected to journald: its device
    /// and inode match `$JOURNAL_STREAM` (`DEV:INODE`), as systemd.exec(5) says to check (a child
    /// that inherited the variable but writes elsewhere gets no prefixes).
    public static func isJournalStream(_ fd: Int32, environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    private static let beforeLine = Mutex<(@Sendable () -> Void)?>(nil)

    /// Sets what runs before each line Kiln writes to stderr: the progress renderer clears its
    /// terminal line there, so a log line never lands in the middle of it.
    public static func setBeforeLine(_ action: (@Sendable () -> Void)?) { beforeLine.withLock { $0 = action } }

    private static func writeStandardError(_ text: String) {
        beforeLine.withLock { $0 }?()
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Writes one line at `level`.
    public static func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level >= threshold else { return }
        let line = journald ? prefixed(message() + "\n", level: level, journal: true) : "kiln: \(level.name): \(message())\n"
        writeStandardError(line)
    }

    /// Writes the message that ends a command (a usage error, a failed run) to stderr as is;
    /// on a journal stream with the err prefix, so `journalctl -p err` says why a service failed.
    public static func fatal(_ message: String) {
        let text = message.hasSuffix("\n") ? message : message + "\n"
        writeStandardError(prefixed(text, level: .error, journal: journald))
    }

    /// Writes a command's result (a run report, a JSON line) to stdout, or stderr, as is; on a
    /// journal stream every line gets `level`'s prefix, so it is not taken for a crash report
    /// (the unit's `SyslogLevel=err`).
    public static func output(_ text: String, level: Level = .info, standardError: Bool = false) {
        let t = text.hasSuffix("\n") ? text : text + "\n"
        if standardError {
            writeStandardError(prefixed(t, level: level, journal: journald))
        } else {
            FileHandle.standardOutput.write(Data(prefixed(t, level: level, journal: journaldStdout).utf8))
        }
    }

    /// `text` with `<N>` before each line when `journal` is true, else unchanged.
    static func prefixed(_ text: String, level: Level, journal: Bool) -> String {
        guard journal else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            .map { "<\(level.rawValue)>\($0)\n" }.joined()
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
