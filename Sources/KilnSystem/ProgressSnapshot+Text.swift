import Foundation

extension ProgressSnapshot {
    /// The line a terminal shows while the step runs: short units (`12.3 MiB / 50.0 MiB`),
    /// rate and ETA, or the phase and elapsed time; cut to `width` columns.
    public func terminalLine(width: Int = 200) -> String {
        let line = (["\(step.verb) \(subject)"] + measure(exact: false)).joined(separator: "  ")
        return line.count > width ? String(line.prefix(max(0, width - 1))) + "…" : line
    }

    /// The plain line logged on a pipe, in a file or under journald: exact counts, no control
    /// characters, one line.
    public var plainLine: String {
        "\(step.verb) \(subject): " + measure(exact: true).joined(separator: ", ")
    }

    /// The short form systemd's `STATUS=` carries while the model is not yet serving:
    /// `building engine: phase 3/6, 2 m 10 s`, `pulling: 40%, 1.2 MiB/s, ETA 31 s`.
    public var statusLine: String {
        var parts: [String] = []
        switch unit {
        case .phases, .items:
            if let position { parts.append(position) }
            if let phase { parts.append(phase) }
        case .bytes:
            if let fraction { parts.append("\(Int(fraction * 100))%") }
            if let rate { parts.append("\(Self.bytes(rate))/s") }
            if let eta { parts.append("ETA \(Self.duration(eta))") }
        case .seconds:
            if let eta { parts.append("\(Self.duration(eta)) left") }
        }
        parts.append(Self.duration(elapsed))
        return "\(step.verb): " + parts.joined(separator: ", ")
    }

    /// `phase 3/6` (the phase running now, from 1) or `item 5/8` (items done), when the total is known.
    private var position: String? {
        guard let total else { return nil }
        if unit == .items { return "item \(done)/\(total)" }
        return "phase \(outcome == nil ? min(done + 1, total) : done)/\(total)"
    }

    /// The counts, rate and times, in terminal (`exact: false`) or plain-line (exact counts) words.
    private func measure(exact: Bool) -> [String] {
        var words: [String] = []
        switch unit {
        case .bytes:
            if exact {
                let count = total.map { "\(done) of \($0) bytes" } ?? "\(done) bytes"
                words.append(fraction.map { "\(count) (\(Int($0 * 100))%)" } ?? count)
            } else {
                words.append(total.map { "\(Self.bytes(Double(done))) / \(Self.bytes(Double($0)))" } ?? Self.bytes(Double(done)))
                if let fraction { words.append("\(Int(fraction * 100))%") }
            }
            if let rate { words.append("\(Self.bytes(rate))/s") }
            if let eta, outcome == nil { words.append("ETA \(Self.duration(eta))") }
        case .phases, .items:
            if let position { words.append(position) }
            if let phase { words.append(phase) }
            if let eta, outcome == nil, unit == .items { words.append("ETA \(Self.duration(eta))") }
        case .seconds:
            if let eta, let total { words.append("\(Self.duration(eta)) left of \(Self.duration(Double(total)))") }
        }
        words.append(exact ? "\(Self.duration(elapsed)) elapsed" : Self.duration(elapsed))
        if let outcome { words.append(outcome.rawValue) }
        return words
    }

    /// `512 B`, `12.3 KiB`, `50.0 MiB`, `1.20 GiB`.
    public static func bytes(_ value: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = max(0, value), i = 0
        while v >= 1024 && i < units.count - 1 {
            v /= 1024
            i += 1
        }
        return i == 0 ? "\(Int(v)) B" : String(format: i >= 3 ? "%.2f %@" : "%.1f %@", v, units[i])
    }

    /// `4 s`, `2 m 10 s`, `1 h 3 m`.
    public static func duration(_ seconds: Double) -> String {
        let s = Int(max(0, seconds).rounded())
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) m \(s % 60) s" }
        return "\(s / 3600) h \(s % 3600 / 60) m"
    }
}
