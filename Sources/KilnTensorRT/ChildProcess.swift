import Glibc
import KilnCore

/// A child process in its own process group, with stdout and stderr merged into one pipe that is
/// read line by line, and a deadline after which the whole group is SIGKILLed.
///
/// Used by the isolated builder: whatever happens to the child (OOM kill, crash, hang), the parent
/// gets an exit description and the output, and carries on.
struct ChildProcess {
    /// How the child ended.
    enum Exit: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)
        case timedOut(seconds: Double)

        var description: String {
            switch self {
            case .exited(let code): "exited with status \(code)"
            case .signaled(let signal): signal == SIGKILL ? "killed by SIGKILL (the kernel's OOM killer, on a build)" : "killed by signal \(signal)"
            case .timedOut(let seconds): String(format: "timed out after %.0f s and was killed", seconds)
            }
        }
    }

    /// Runs `executable` with `arguments` and `environment` (complete), calling `line` for each
    /// output line, until it exits or `timeout` seconds pass. With `ownProcessGroup` (the default)
    /// the child leads a new process group that the timeout kills whole; without, it stays in the
    /// caller's group, so whoever kills the caller's group (the isolated builder's parent) kills it too.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String], timeout: Double,
                    ownProcessGroup: Bool = true, line: (String) -> Void) throws -> Exit {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw RuntimeError("isolated builder: pipe() failed: \(String(cString: strerror(errno)))") }
        let readEnd = fds[0], writeEnd = fds[1]
        // Close-on-exec, so a process another thread spawns meanwhile does not hold the pipe open.
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addclose(&actions, readEnd)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
        posix_spawn_file_actions_addclose(&actions, writeEnd)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        if ownProcessGroup {
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(writeEnd)
        guard rc == 0 else {
            close(readEnd)
            throw RuntimeError("isolated builder: cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        let start = MonotonicClock.now
        var timedOut = false
        var killedAt = 0.0
        let target = ownProcessGroup ? -pid : pid
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let remaining = timeout - (MonotonicClock.now - start)
            if remaining <= 0 && !timedOut {
                timedOut = true
                killedAt = MonotonicClock.now
                kill(target, SIGKILL)
            }
            // A killed child's stray descendants may hold the pipe open: stop reading after 5 s.
            if timedOut && MonotonicClock.now - killedAt > 5 { break }
            var pfd = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, timedOut ? 1000 : Int32(min(max(remaining * 1000, 1), 1000)))
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 { continue }
            let n = read(readEnd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            pending.append(contentsOf: buffer[0..<n])
            while let newline = pending.firstIndex(of: 10) {
                line(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
            if pending.count > 1 << 20 {  // a megabyte without a newline: pass it on as one line
                line(String(decoding: pending, as: UTF8.self))
                pending.removeAll(keepingCapacity: true)
            }
        }
        if !pending.isEmpty { line(String(decoding: pending, as: UTF8.self)) }
        close(readEnd)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if ownProcessGroup { kill(-pid, SIGKILL) }  // anything the child left behind in its group
        if timedOut { return .timedOut(seconds: timeout) }
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }
}
