import KilnCore

/// The command line of one subcommand, consumed flag by flag; leftovers are a usage error.
///
/// Accepts `--name value` and `--name=value`. Every accessor removes what it reads, and
/// `finish()` rejects anything nobody asked for, naming it.
struct Arguments {
    private(set) var remaining: [String]
    /// The subcommand's name, for messages.
    let command: String

    init(_ arguments: [String], command: String) {
        self.remaining = arguments
        self.command = command
    }

    /// True if `--name` is present (removed).
    mutating func flag(_ name: String) -> Bool {
        guard let i = remaining.firstIndex(of: name) else { return false }
        remaining.remove(at: i)
        return true
    }

    /// The value of `--name VALUE` or `--name=VALUE` (removed); the last one wins.
    mutating func option(_ name: String) throws -> String? {
        var value: String?
        while true {
            if let i = remaining.firstIndex(where: { $0.hasPrefix(name + "=") }) {
                value = String(remaining[i].dropFirst(name.count + 1))
                remaining.remove(at: i)
            } else if let i = remaining.firstIndex(of: name) {
                guard i + 1 < remaining.count else {
                    throw UsageError("kiln \(command): \(name) needs a value; see `kiln help \(command)`")
                }
                value = remaining[i + 1]
                remaining.removeSubrange(i...(i + 1))
            } else {
                return value
            }
        }
    }

    /// Every value of a repeatable option (removed).
    mutating func options(_ name: String) throws -> [String] {
        var values: [String] = []
        while let i = remaining.firstIndex(where: { $0 == name || $0.hasPrefix(name + "=") }) {
            if remaining[i] == name {
                guard i + 1 < remaining.count else {
                    throw UsageError("kiln \(command): \(name) needs a value; see `kiln help \(command)`")
                }
                values.append(remaining[i + 1])
                remaining.removeSubrange(i...(i + 1))
            } else {
                values.append(String(remaining[i].dropFirst(name.count + 1)))
                remaining.remove(at: i)
            }
        }
        return values
    }

    /// An option parsed with `parse`, whose failure is reported naming the flag and its value.
    mutating func option<T>(_ name: String, _ what: String, _ parse: (String) -> T?) throws -> T? {
        guard let text = try option(name) else { return nil }
        guard let value = parse(text) else {
            throw UsageError("kiln \(command): \(name) \(text): expected \(what)")
        }
        return value
    }

    /// The next positional argument (removed), or nil.
    mutating func positional() -> String? {
        guard let i = remaining.firstIndex(where: { !$0.hasPrefix("--") || $0 == "-" }) else { return nil }
        return remaining.remove(at: i)
    }

    /// The next positional argument; a usage error naming `what` if it is missing.
    mutating func required(_ what: String) throws -> String {
        guard let value = positional() else {
            throw UsageError("kiln \(command): missing \(what); see `kiln help \(command)`")
        }
        return value
    }

    /// Puts `arguments` before the remaining ones (a configuration file's settings, which flags
    /// given on the command line then override).
    mutating func prepend(_ arguments: [String]) {
        remaining = arguments + remaining
    }

    /// Fails on any argument no accessor consumed.
    func finish() throws {
        if let first = remaining.first {
            throw UsageError("kiln \(command): unknown argument \(first); see `kiln help \(command)`")
        }
    }
}
