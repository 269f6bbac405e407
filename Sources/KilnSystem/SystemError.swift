/// A failed system call, naming the call, the file it was about and the error number.
///
/// The message reads "cannot CALL PATH: REASON", e.g. "cannot fsync /var/cache/kiln/x: No space
/// left on device", so a user sees which file to look at.
public struct SystemError: KilnError, Equatable {
    /// What was attempted, as a verb phrase ("open", "fsync", "rename into place", "spawn").
    public var call: String
    /// The file, directory or program the call was about, when there is one.
    public var path: String?
    /// The error number the call failed with.
    public var errno: Errno

    /// Creates an error for `call` on `path` failing with `errno`.
    public init(_ call: String, path: String? = nil, errno: Errno) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    public var description: String {
        if let path { return "cannot \(call) \(path): \(errno)" }
        return "\(call) failed: \(errno)"
    }

    public var exitCode: ExitCode { .runtimeFailure }
}
