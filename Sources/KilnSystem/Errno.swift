import Glibc

/// A POSIX error number as a value, so failures keep `errno` rather than only its text.
public struct Errno: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The C `errno` value.
    public let rawValue: Int32

    /// Wraps a C `errno` value.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's `errno` now; read it straight after the failing call.
    public static var current: Errno { Errno(rawValue: errno) }

    /// The system's text for the error (`strerror`), e.g. "No such file or directory".
    public var description: String { String(cString: strerror(rawValue)) }

    /// EINTR: a signal interrupted the call; `Posix.call` retries it.
    public static let interrupted = Errno(rawValue: EINTR)
    /// ENOENT: no such file or directory.
    public static let noSuchFileOrDirectory = Errno(rawValue: ENOENT)
    /// ENOTDIR: a component of the path is not a directory.
    public static let notDirectory = Errno(rawValue: ENOTDIR)
    /// EEXIST: the file already exists.
    public static let fileExists = Errno(rawValue: EEXIST)
}
