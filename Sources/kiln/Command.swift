import KilnCore

/// One `kiln` subcommand: its name, its help, and what it does.
protocol Command: Sendable {
    /// The word after `kiln` (`run`, `demo`, `cache`…).
    static var name: String { get }
    /// One line for `kiln --help`.
    static var summary: String { get }
    /// The full text of `kiln help NAME`: usage line, flags, examples.
    static var help: String { get }
    /// Runs the command; returns the exit code, throws a `KilnError` on failure.
    static func run(_ arguments: inout Arguments) async throws -> ExitCode
}
