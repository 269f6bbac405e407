import Glibc

/// An advisory `flock(2)` lock on a lock file, shared between processes and threads.
///
/// Each `FileLock` opens its own file description, so two locks on the same path exclude each
/// other even inside one process. The lock is released by `unlock()`, by `deinit`, or by the
/// kernel when the process dies (so a SIGKILLed builder never leaves a key locked).
final class FileLock {
    /// The lock file's path.
    let path: String
    private let fd: Int32
    private var held = false

    /// Opens (creating if needed) the lock file at `path`.
    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineCacheError.io(path: path, operation: "open lock file", errno: errno) }
        self.fd = fd
    }

    deinit {
        if held { _ = flock(fd, LOCK_UN) }
        close(fd)
    }

    /// Blocks until the lock is held, exclusive or shared.
    func lock(exclusive: Bool) throws {
        while flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0 {
            if errno == EINTR { continue }
            throw EngineCacheError.io(path: path, operation: "lock", errno: errno)
        }
        held = true
    }

    /// Takes the lock if nobody else holds it; returns false when it is busy.
    func tryLock(exclusive: Bool) -> Bool {
        while flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            return false
        }
        held = true
        return true
    }

    /// Releases the lock.
    func unlock() {
        if held { _ = flock(fd, LOCK_UN) }
        held = false
    }
}
