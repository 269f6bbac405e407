import Glibc

/// An advisory `flock(2)` lock on a lock file, shared between processes and threads.
///
/// Each `FileLock` opens its own file description, so two locks on the same path exclude each
/// other even inside one process. The lock is released by `unlock()`, by `deinit`, or by the
/// kernel when the process dies (so a SIGKILLed builder never leaves a key locked).
final class FileLock {
    /// The lock file's path.
    let path: String
    private let fd: FileDescriptor
    private var held = false

    /// Opens (creating if needed) the lock file at `path`.
    init(path: String) throws(EngineCacheError) {
        self.path = path
        fd = try EngineCacheError.io { () throws(SystemError) in try FileDescriptor.open(path, .readWrite, options: .create) }
    }

    deinit {
        unlock()
        fd.closeIgnoringErrors()
    }

    /// Blocks until the lock is held, exclusive or shared.
    func lock(exclusive: Bool) throws(EngineCacheError) {
        try EngineCacheError.io { () throws(SystemError) in
            try Posix.call("lock", path: path) { flock(fd.rawValue, exclusive ? LOCK_EX : LOCK_SH) }
        }
        held = true
    }

    /// Takes the lock if nobody else holds it; returns false when it is busy.
    func tryLock(exclusive: Bool) -> Bool {
        guard case .success = Posix.retrying({ flock(fd.rawValue, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) }) else { return false }
        held = true
        return true
    }

    /// Releases the lock.
    func unlock() {
        if held { _ = flock(fd.rawValue, LOCK_UN) }
        held = false
    }
}
