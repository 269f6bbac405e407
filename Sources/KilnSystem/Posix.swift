import Glibc

/// The one rule for raw system calls: retry on EINTR, turn -1 into a typed `SystemError`.
///
/// ```swift
/// let n = try Posix.call("read", path: path) { read(fd, buffer, count) }
/// ```
public enum Posix {
    /// Runs `body`, a C call that returns -1 and sets `errno` on failure, retrying while it fails
    /// with EINTR; any other failure throws a `SystemError` naming `call` and `path`.
    @discardableResult
    public static func call<Result: FixedWidthInteger>(
        _ call: String, path: String? = nil, _ body: () -> Result
    ) throws(SystemError) -> Result {
        while true {
            let result = body()
            if result != -1 { return result }
            let error = Errno.current
            if error == .interrupted { continue }
            throw SystemError(call, path: path, errno: error)
        }
    }

    /// Runs `body`, a C call that returns -1 and sets `errno` on failure, retrying while it fails
    /// with EINTR, and returns its result or the error number (for callers that branch on it).
    public static func retrying<Result: FixedWidthInteger>(_ body: () -> Result) -> Swift.Result<Result, Errno> {
        while true {
            let result = body()
            if result != -1 { return .success(result) }
            let error = Errno.current
            if error != .interrupted { return .failure(error) }
        }
    }
}
