import Glibc

/// A failure of the engine cache, naming the file or key involved.
public enum EngineCacheError: KilnError {
    /// A system call on a cache file failed.
    case io(path: String, operation: String, errno: Errno)
    /// The build closure returned an engine for another backend identity than the key's.
    case identityMismatch(key: String, expected: BackendIdentity, built: BackendIdentity)
    /// No entry matches the key (or key prefix) given to `kiln cache rm`.
    case noSuchEntry(key: String)
    /// A key prefix matches several entries.
    case ambiguousKey(prefix: String, matches: [String])

    public var description: String {
        switch self {
        case .io(let path, let operation, let code):
            "engine cache: cannot \(operation) \(path): \(code); check the cache directory's permissions and free space (kiln cache path)"
        case .identityMismatch(let key, let expected, let built):
            "engine cache: the build for key \(key) produced an engine for \(built), expected \(expected); this is a backend bug, the engine was not cached"
        case .noSuchEntry(let key):
            "engine cache: no entry \(key); list entries with `kiln cache ls`"
        case .ambiguousKey(let prefix, let matches):
            "engine cache: key prefix \(prefix) matches \(matches.count) entries (\(matches.prefix(4).joined(separator: ", "))); give more characters"
        }
    }

    public var exitCode: ExitCode {
        switch self {
        case .io, .identityMismatch: .runtimeFailure
        case .noSuchEntry, .ambiguousKey: .usage
        }
    }
}

extension EngineCacheError {
    /// Runs file work on the cache, reporting a failed system call as `.io` (whose message adds the fix).
    static func io<Result>(_ body: () throws(SystemError) -> Result) throws(EngineCacheError) -> Result {
        do { return try body() } catch {
            throw .io(path: error.path ?? "", operation: error.call, errno: error.errno)
        }
    }
}
