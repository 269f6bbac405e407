import Foundation
import Glibc
import Synchronization

/// Shows progress on stderr: on a terminal one line per step redrawn at most 10 times a second
/// and cleared when the step ends; on a pipe, in a file or under journald plain info lines,
/// the first after 2 s and then at most one every 10 s per step, and a closing line for a step
/// that printed any. Never writes to stdout. `--quiet` installs none.
public final class ProgressRenderer: Sendable {
    /// How progress is shown.
    public enum Mode: Sendable, Equatable {
        /// A single updating line (stderr is a TTY).
        case terminal
        /// Plain log lines (a pipe, a file, journald).
        case lines
    }

    /// The mode in use.
    public let mode: Mode
    /// Shortest time between two terminal redraws, seconds (10 Hz).
    public static let redrawInterval = 0.1
    /// Shortest time between two plain lines of one step, seconds.
    public static let lineInterval = 10.0
    /// How long a step runs before its first plain line, seconds (quick steps print none).
    public static let firstLineDelay = 2.0

    private let width: @Sendable () -> Int
    private let writeRaw: @Sendable (String) -> Void
    private let writeLine: @Sendable (String) -> Void
    private struct State {
        var lastDraw = -Double.infinity
        /// The step whose line the terminal shows now, if any.
        var drawn: Int?
        /// Per step: when its last plain line was written (monotonic seconds).
        var lastLine: [Int: Double] = [:]
    }
    private let state = Mutex(State())

    /// Creates a renderer writing terminal control sequences through `writeRaw` and plain
    /// lines through `writeLine` (the log at info by default).
    public init(mode: Mode, width: @escaping @Sendable () -> Int = { 120 },
                writeRaw: @escaping @Sendable (String) -> Void = { ProgressRenderer.writeStandardError($0) },
                writeLine: @escaping @Sendable (String) -> Void = { Log.info($0) }) {
        self.mode = mode
        self.width = width
        self.writeRaw = writeRaw
        self.writeLine = writeLine
    }

    /// The renderer for this process's stderr: terminal mode when it is a TTY (and not a
    /// journal stream or `TERM=dumb`), plain lines otherwise.
    public static func forStandardError(environment: [String: String] = ProcessInfo.processInfo.environment) -> ProgressRenderer {
        let tty = isatty(2) == 1 && !Log.isJournalStream(2, environment: environment) && environment["TERM"] != "dumb"
        return ProgressRenderer(mode: tty ? .terminal : .lines, width: { terminalColumns() })
    }

    /// Shows `hub`'s steps from now on; on a terminal, log lines clear the progress line first.
    @discardableResult
    public func install(on hub: ProgressHub = .shared) -> ProgressHub.Observation {
        if mode == .terminal { Log.setBeforeLine { [self] in clearLine() } }
        return hub.observe { [self] event in handle(event) }
    }

    /// Handles one event (observers call this; tests call it directly).
    public func handle(_ event: ProgressEvent, now: Double = MonotonicClock.now) {
        switch mode {
        case .terminal: drawTerminal(event, now: now)
        case .lines: writePlain(event, now: now)
        }
    }

    private func drawTerminal(_ event: ProgressEvent, now: Double) {
        let snapshot = event.snapshot
        let cols = width()
        state.withLock { s in
            switch event {
            case .began, .updated:
                guard now - s.lastDraw >= Self.redrawInterval else { return }
                s.lastDraw = now
                s.drawn = snapshot.id
                writeRaw("\r\u{1B}[K" + snapshot.terminalLine(width: cols - 1))
            case .finished:
                guard s.drawn == snapshot.id else { return }
                // The final state, still within the redraw rate, then the line is cleared.
                let wait = Self.redrawInterval - (now - s.lastDraw)
                if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
                s.lastDraw = now + max(0, wait)
                s.drawn = nil
                writeRaw("\r\u{1B}[K" + snapshot.terminalLine(width: cols - 1) + "\r\u{1B}[K")
            }
        }
    }

    private func writePlain(_ event: ProgressEvent, now: Double) {
        let snapshot = event.snapshot
        let line: String? = state.withLock { s in
            switch event {
            case .began:
                return nil
            case .updated:
                if let last = s.lastLine[snapshot.id] {
                    guard now - last >= Self.lineInterval else { return nil }
                } else {
                    guard snapshot.elapsed >= Self.firstLineDelay else { return nil }
                }
                s.lastLine[snapshot.id] = now
                return snapshot.plainLine
            case .finished:
                guard s.lastLine.removeValue(forKey: snapshot.id) != nil else { return nil }
                return snapshot.plainLine
            }
        }
        if let line { writeLine(line) }
    }

    /// Clears the terminal line before a log line is written over it; the next update redraws.
    private func clearLine() {
        state.withLock { s in
            guard s.drawn != nil else { return }
            s.drawn = nil
            writeRaw("\r\u{1B}[K")
        }
    }

    /// Writes `text` to file descriptor 2 as is.
    public static func writeStandardError(_ text: String) {
        try? FileDescriptor(rawValue: STDERR_FILENO).writeAll(Array(text.utf8))
    }

    /// The terminal's width in columns (TIOCGWINSZ on stderr), 80 when unknown.
    public static func terminalColumns() -> Int {
        var size = winsize()
        guard ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 10 else { return 80 }
        return Int(size.ws_col)
    }
}
