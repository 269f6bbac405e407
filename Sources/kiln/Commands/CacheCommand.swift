import Foundation
import KilnCore

/// `kiln cache ls|gc|rm KEY|path [--json]`: inspect and maintain the engine cache.
struct CacheCommand: Command {
    static let name = "cache"
    static let summary = "List, clean or locate the engine cache (ls, gc, rm KEY, path)"
    static let help = """
        Usage: kiln cache ls|gc|rm KEY|path [--json] [flags]

        Engines are cached by the sha256 of the model, the backend identity (TensorRT, CUDA, SM,
        device; or the reference backend's version and CPU) and the build options that change the
        engine. Each entry is an engine file plus JSON metadata; the engine's sha256 is checked on
        every load.

          ls        List entries, most recently used first
          gc        Remove entries built for another backend identity (e.g. after a JetPack upgrade),
                    incomplete entries and leftovers of killed writers, then evict to the budget
          rm KEY    Remove one entry (a unique key prefix of at least 4 characters will do)
          path      Print the cache directory

        Flags:
          --json               Print one JSON object
        \(DeviceContext.flagHelp)

        The disk budget comes from the device profile (engineCacheBudgetMiB); least recently used
        entries are evicted beyond it.

        Examples:
          kiln cache ls
          kiln cache rm 3fa9c2
          kiln cache gc --json
        """

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        let json = arguments.flag("--json")
        let context = try DeviceContext.resolve(&arguments)
        guard let action = arguments.positional() else {
            throw UsageError("missing action; use one of ls, gc, rm KEY, path (see `kiln help cache`)")
        }
        let cache = context.cache
        switch action {
        case "ls":
            try arguments.finish()
            let entries = cache.entries()
            if json {
                printJSON(Listing(usage: cache.usage(), entries: entries))
            } else {
                print(listing(entries, usage: cache.usage()))
            }
        case "gc":
            try arguments.finish()
            let identities = BackendProbe.currentIdentities()
            let report = try cache.gc(currentIdentities: identities)
            let evicted = try cache.evict(toBudget: cache.budgetBytes)
            if json {
                printJSON(GCOutput(report: report, evicted: evicted, judgedBackends: identities.map(\.backend),
                                   usage: cache.usage()))
            } else {
                for e in report.foreign { print("removed \(e.key.prefix(12)) (built for \(e.identity))") }
                for path in report.leftovers { print("removed leftover \(path)") }
                for path in report.timingCaches { print("removed timing cache \(path)") }
                for e in evicted { print("evicted \(e.key.prefix(12)) (least recently used)") }
                if identities.isEmpty {
                    print("note: no backend reported its identity, so no valid entry was judged foreign")
                }
                let usage = cache.usage()
                print("freed \(bytes(report.freedBytes)); \(usage.entries) entries, \(bytes(usage.bytes)) of \(bytes(usage.budgetBytes))")
            }
        case "rm":
            let key = try arguments.required("KEY (see `kiln cache ls`)")
            try arguments.finish()
            let entry = try cache.remove(key)
            if json { printJSON(entry) } else { print("removed \(entry.key)") }
        case "path":
            try arguments.finish()
            if json { printJSON(["directory": cache.directory]) } else { print(cache.directory) }
        default:
            throw UsageError("unknown action \(action); use one of ls, gc, rm KEY, path")
        }
        return .ok
    }

    /// `kiln cache ls --json`'s object.
    struct Listing: Encodable {
        var usage: EngineCache.Usage
        var entries: [EngineCacheEntry]
    }

    /// `kiln cache gc --json`'s object.
    struct GCOutput: Encodable {
        var report: EngineCache.GCReport
        var evicted: [EngineCacheEntry]
        var judgedBackends: [String]
        var usage: EngineCache.Usage
    }

    /// The `kiln cache ls` table.
    static func listing(_ entries: [EngineCacheEntry], usage: EngineCache.Usage) -> String {
        var lines = ["cache \(usage.directory): \(usage.entries) entries, \(bytes(usage.bytes)) of \(bytes(usage.budgetBytes))"]
        guard !entries.isEmpty else { return lines[0] }
        let rows = [["KEY", "BACKEND", "PRECISION", "SIZE", "BUILD", "LAST USED", "MODEL", "PROFILE"]] + entries.map { e in
            [String(e.key.prefix(12)), e.identity.backend, e.options["precision"] ?? "-", bytes(e.engineBytes),
             String(format: "%.1fs", e.buildSeconds), e.lastUsed.formatted(.iso8601),
             String(e.model.dropFirst("sha256:".count).prefix(12)), e.profile ?? "-"]
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max()! }
        lines += rows.map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        return lines.joined(separator: "\n")
    }

    /// `12.3 MiB`-style sizes.
    static func bytes(_ n: Int) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1 << 20 { return String(format: "%.1f KiB", Double(n) / 1024) }
        if n < 1 << 30 { return String(format: "%.1f MiB", Double(n) / 1_048_576) }
        return String(format: "%.2f GiB", Double(n) / 1_073_741_824)
    }

    /// Prints `value` as one line of JSON (sorted keys, ISO 8601 dates).
    static func printJSON<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self))
    }
}
