import Glibc
import Synchronization

/// A `/bin/sh -c COMMAND` child in its own process group, with its stdout and stderr on pipes.
///
/// Own process group so `terminate()` stops the whole pipeline (`sh`, ffmpeg, gst-launch and
/// anything they spawned), not just the shell.
final class ChildProcess: Sendable {
    /// The child's pid (also its process-group id).
    let pid: pid_t
    /// Read end of the child's stdout.
    let stdoutFD: Int32
    /// Read end of the child's stderr.
    let stderrFD: Int32
    private let status = Mutex<Int32?>(nil)
    private let waiting = Mutex(())

    /// Spawns `/bin/sh -c command`.
    init(command: String, name: String) throws {
        var out: [Int32] = [0, 0], err: [Int32] = [0, 0]
        guard pipe(&out) == 0, pipe(&err) == 0 else {
            throw VideoSourceError("\(name): pipe failed: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        for fd in [out[0], out[1], err[0], err[1]] { posix_spawn_file_actions_addclose(&actions, fd) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setpgroup(&attr, 0)
        // Default SIGPIPE in the child, whatever the parent ignores.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sh"), strdup("-c"), strdup(command), nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ)
        Glibc.close(out[1])
        Glibc.close(err[1])
        guard rc == 0 else {
            Glibc.close(out[0])
            Glibc.close(err[0])
            throw VideoSourceError("\(name): cannot start /bin/sh: \(String(cString: strerror(rc)))")
        }
        _ = fcntl(out[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(err[0], F_SETFD, FD_CLOEXEC)
        self.pid = pid
        self.stdoutFD = out[0]
        self.stderrFD = err[0]
    }

    /// Waits for the child and returns its wait status (cached after the first call).
    @discardableResult
    func wait() -> Int32 {
        waiting.withLock { _ in
            if let s = status.withLock({ $0 }) { return s }
            var s: Int32 = 0
            while waitpid(pid, &s, 0) < 0 && errno == EINTR {}
            status.withLock { $0 = s }
            return s
        }
    }

    /// The exit code when the child exited normally (not by a signal), after waiting for it.
    func exitCode() -> Int32? {
        let s = wait()
        // WIFEXITED: low 7 bits zero; WEXITSTATUS: bits 8-15.
        return (s & 0x7F) == 0 ? (s >> 8) & 0xFF : nil
    }

    /// Sends SIGTERM to the whole process group.
    func terminate() {
        if status.withLock({ $0 }) == nil { kill(-pid, SIGTERM) }
    }
}
