import Foundation
import KilnCore

/// An error in Kiln's configuration file, naming the file, line and fix.
public struct ConfigurationError: KilnError {
    /// What is wrong and where.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitCode: ExitCode { .usage }
}

/// Kiln's configuration file (`/etc/kiln/kiln.conf`, systemd's ConfigurationDirectory).
///
/// One `key = value` per line; `#` starts a comment line; blank lines are ignored; values may be
/// double-quoted to keep leading/trailing spaces or a `#`. A repeated key keeps every value in
/// order (`source` may name several streams). Keys are the long flags of `kiln run` without the
/// dashes (`model`, `source`, `metrics-addr`, `push-url`…). Unknown keys are rejected when the
/// caller passes the keys it knows, so a typo never silently falls back to a default.
public struct KilnConfiguration: Sendable, Equatable {
    /// The default path under systemd's ConfigurationDirectory.
    public static let defaultPath = "/etc/kiln/kiln.conf"

    /// Every entry in file order.
    public private(set) var entries: [(key: String, value: String, line: Int)]
    /// Where it was read from (for messages).
    public let path: String

    public static func == (a: Self, b: Self) -> Bool {
        a.path == b.path && a.entries.map { "\($0.key)=\($0.value)" } == b.entries.map { "\($0.key)=\($0.value)" }
    }

    /// Parses `text` read from `path`; `knownKeys` (if given) is the complete set of allowed keys.
    public init(parsing text: String, path: String = "kiln.conf", knownKeys: Set<String>? = nil) throws {
        self.path = path
        var entries: [(String, String, Int)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = i + 1
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw ConfigurationError("\(path):\(lineNumber): \(line.debugDescription) is not `key = value`")
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
                throw ConfigurationError("\(path):\(lineNumber): invalid key \(key.debugDescription); keys are letters, digits, - _ .")
            }
            if let known = knownKeys, !known.contains(key) {
                throw ConfigurationError(
                    "\(path):\(lineNumber): unknown key \(key.debugDescription); known keys: \(known.sorted().joined(separator: ", "))")
            }
            if value.hasPrefix("\"") {
                guard value.count >= 2, value.hasSuffix("\"") else {
                    throw ConfigurationError("\(path):\(lineNumber): unterminated quote in the value of \(key)")
                }
                value = String(value.dropFirst().dropLast())
                    .replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\\\", with: "\\")
            }
            entries.append((key, value, lineNumber))
        }
        self.entries = entries
    }

    /// Reads and parses the file at `path`.
    public static func load(path: String = defaultPath, knownKeys: Set<String>? = nil) throws -> KilnConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("configuration file \(path) cannot be read; create it or pass --config PATH")
        }
        return try KilnConfiguration(parsing: String(decoding: data, as: UTF8.self), path: path, knownKeys: knownKeys)
    }

    /// The last value of `key`, or nil.
    public subscript(key: String) -> String? { entries.last { $0.key == key }?.value }

    /// Every value of a repeatable key, in file order.
    public func values(_ key: String) -> [String] { entries.filter { $0.key == key }.map(\.value) }

    /// The last value of `key` parsed by `parse`; a typed error naming the line when it does not parse.
    public func value<T>(_ key: String, _ what: String, _ parse: (String) -> T?) throws -> T? {
        guard let entry = entries.last(where: { $0.key == key }) else { return nil }
        guard let v = parse(entry.value) else {
            throw ConfigurationError("\(path):\(entry.line): \(key) = \(entry.value.debugDescription): expected \(what)")
        }
        return v
    }

    /// `key` as a Double.
    public func double(_ key: String) throws -> Double? { try value(key, "a number", Double.init) }
    /// `key` as an Int.
    public func int(_ key: String) throws -> Int? { try value(key, "an integer", Int.init) }
    /// `key` as a Bool (`true/false/yes/no/on/off/1/0`).
    public func bool(_ key: String) throws -> Bool? {
        try value(key, "true or false") { ["true": true, "yes": true, "on": true, "1": true,
                                           "false": false, "no": false, "off": false, "0": false][$0.lowercased()] }
    }

    /// The entries as command-line arguments (`--key value` …), so a command can parse the file
    /// with the same `Arguments` code as its flags (flags given explicitly are appended after).
    public var asArguments: [String] { entries.flatMap { ["--\($0.key)", $0.value] } }
}
