import Glibc
import Synchronization

/// Kiln's one way to start another program: `posix_spawn`, pipes that are close-on-exec from
/// the moment they exist (`pipe2(O_CLOEXEC)`, so a child spawned by another thread at the same
/// time cannot inherit them), a chosen process group, and the child's signals reset to their
/// defaults (SIGPIPE, and the SIGTERM/SIGINT/SIGHUP the service ignores while it watches them).
///
/// Use `.own` for a pipeline that must be stopped as a whole (`sh -c 'ffmpeg …'`): `terminate()`
/// signals the group. Use `.parent` for a helper that must die with the service when the service's
/// group is killed (trtexec under the isolated builder).
///
/// The caller owns `standardOutput`, `standardError` and `standardInput` and closes them.
public final class Subprocess: Sendable {
    /// Which process group the child joins.
    public enum ProcessGroup: Sendable {
        /// A new group led by the child: `terminate()` and a timeout reach everything it started.
        case own
        /// The parent's group: a signal to the parent's group reaches the child too.
        case parent
    }

    /// Where the child's stderr goes.
    public enum ErrorOutput: Sendable {
        /// Its own pipe, `standardError`.
        case separate
        /// The stdout pipe, interleaved with stdout.
        case merged
        /// This process's stderr, so the child's messages reach the user as they come.
        case inherited
    }

    /// Where the child's stdin comes from.
    public enum StandardInput: Sendable {
        /// `/dev/null`: the child reads end of file at once.
        case null
        /// A pipe whose write end is `standardInput`; closing it gives the child end of file.
        case pipe
    }

    /// How a child ended.
    public enum Exit: Sendable, Equatable, CustomStringConvertible {
        /// It exited with this status.
        case exited(Int32)
        /// A signal killed it.
        case signaled(Int32)
        /// It ran past its deadline and was killed.
        case timedOut(seconds: Double)

        public var description: String {
            switch self {
            case .exited(let code): "exited with status \(code)"
            case .signaled(let signal):
                signal == SIGKILL ? "killed by SIGKILL (the kernel's OOM killer, on a build)" : "killed by signal \(signal)"
            case .timedOut(let seconds): "timed out after \(Int(seconds.rounded())) s and was killed"
            }
        }

        /// The exit status when the child exited normally, nil when a signal or the deadline ended it.
        public var status: Int32? {
            if case .exited(let code) = self { return code }
            return nil
        }

        init(waitStatus s: Int32) {
            // WIFEXITED: low 7 bits zero; WEXITSTATUS: bits 8-15; WTERMSIG: low 7 bits.
            self = (s & 0x7F) == 0 ? .exited((s >> 8) & 0xFF) : .signaled(s & 0x7F)
        }
    }

    /// The child's pid (with `.own`, also its process-group id).
    public let pid: pid_t
    /// The program that was started.
    public let executable: String
    /// The group the child joined.
    public let processGroup: ProcessGroup
    /// Read end of the child's stdout (and stderr when merged).
    public let standardOutput: FileDescriptor
    /// Read end of the child's stderr, nil when merged into stdout.
    public let standardError: FileDescriptor?
    /// Write end of the child's stdin with `.pipe`, nil with `.null`.
    public let standardInput: FileDescriptor?
    private let status = Mutex<Int32?>(nil)
    private let peakResident = Mutex<Int?>(nil)
    private let waiting = Mutex(())

    /// Starts `executable` (a path) with `arguments`; stdin is /dev/null unless `input` is `.pipe`.
    /// `environment` nil keeps this process's environment, otherwise it is the complete environment.
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                processGroup: ProcessGroup, input: StandardInput = .null, errors: ErrorOutput = .separate) throws(SystemError) {
        var opened: [FileDescriptor] = []
        func pipe() throws(SystemError) -> (readEnd: FileDescriptor, writeEnd: FileDescriptor) {
            do throws(SystemError) {
                let ends = try FileDescriptor.pipe()
                opened += [ends.readEnd, ends.writeEnd]
                return ends
            } catch {
                opened.forEach { $0.closeIgnoringErrors() }
                throw error
            }
        }
        let out = try pipe()
        let err = errors == .separate ? try pipe() : nil
        let inp = input == .pipe ? try pipe() : nil
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let inp {
            posix_spawn_file_actions_adddup2(&actions, inp.readEnd.rawValue, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        // dup2 clears close-on-exec on the copies; the originals close at exec.
        posix_spawn_file_actions_adddup2(&actions, out.writeEnd.rawValue, 1)
        if errors != .inherited { posix_spawn_file_actions_adddup2(&actions, (err?.writeEnd ?? out.writeEnd).rawValue, 2) }
        // Descriptors someone else opened without close-on-exec (a library, our own parent) stay out too.
        if let closeFrom = addCloseFrom { _ = closeFrom(&actions, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        // An empty mask: the spawning thread may block signals (dispatch's worker threads do), and
        // a child that inherits a blocked SIGTERM would ignore `terminate()`.
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        if processGroup == .own {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer {
            argv.forEach { free($0) }
            envp?.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc: Int32
        if var envp {
            rc = posix_spawn(&pid, executable, &actions, &attributes, argv, &envp)
        } else {
            rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        }
        out.writeEnd.closeIgnoringErrors()
        err?.writeEnd.closeIgnoringErrors()
        inp?.readEnd.closeIgnoringErrors()
        guard rc == 0 else {
            out.readEnd.closeIgnoringErrors()
            err?.readEnd.closeIgnoringErrors()
            inp?.writeEnd.closeIgnoringErrors()
            throw SystemError("start", path: executable, errno: Errno(rawValue: rc))
        }
        self.pid = pid
        self.executable = executable
        self.processGroup = processGroup
        self.standardOutput = out.readEnd
        self.standardError = err?.readEnd
        self.standardInput = inp?.writeEnd
    }

    /// Runs `executable` to completion in this process's group, its stderr passed through, and
    /// returns what it wrote to stdout and how it ended.
    public static func output(_ executable: String, _ arguments: [String]) throws(SystemError) -> (bytes: [UInt8], exit: Exit) {
        let child = try Subprocess(executable, arguments, processGroup: .parent, errors: .inherited)
        defer { child.standardOutput.closeIgnoringErrors() }
        do {
            let bytes = try child.standardOutput.readToEnd(path: executable)
            return (bytes, child.wait())
        } catch {
            child.terminate(SIGKILL)
            child.wait()
            throw error
        }
    }

    /// Runs `executable` to completion in this process's group and returns its stdout and stderr,
    /// each read as it comes (polling both, so a child that fills one pipe never stalls), and how it ended.
    public static func capture(_ executable: String, _ arguments: [String]) throws(SystemError) -> (output: [UInt8], errors: [UInt8], exit: Exit) {
        let child = try Subprocess(executable, arguments, processGroup: .parent, errors: .separate)
        let streams = [child.standardOutput, child.standardError!]
        defer { streams.forEach { $0.closeIgnoringErrors() } }
        var collected: [[UInt8]] = [[], []]
        var open = [true, true]
        var buffer = [UInt8](repeating: 0, count: 65536)
        do throws(SystemError) {
            while open.contains(true) {
                var fds = streams.indices.map { pollfd(fd: open[$0] ? streams[$0].rawValue : -1, events: Int16(POLLIN), revents: 0) }
                _ = try Posix.call("poll", path: executable) { poll(&fds, nfds_t(fds.count), -1) }
                for i in streams.indices where open[i] && fds[i].revents != 0 {
                    let n = try buffer.withUnsafeMutableBytes { raw in
                        Result { () throws(SystemError) in try streams[i].read(into: raw, path: executable) }
                    }.get()
                    if n == 0 { open[i] = false } else { collected[i] += buffer[0..<n] }
                }
            }
        } catch {
            child.terminate(SIGKILL)
            child.wait()
            throw error
        }
        return (collected[0], collected[1], child.wait())
    }

    /// Starts `/bin/sh -c command` in its own process group.
    public static func shell(_ command: String, errors: ErrorOutput = .separate) throws(SystemError) -> Subprocess {
        try Subprocess("/bin/sh", ["-c", command], processGroup: .own, errors: errors)
    }

    /// Waits for the child to end (once; later calls return the same answer).
    @discardableResult
    public func wait() -> Exit {
        waiting.withLock { _ in
            if let s = status.withLock({ $0 }) { return Exit(waitStatus: s) }
            var s: Int32 = 0
            var usage = rusage()
            _ = Posix.retrying { wait4(pid, &s, 0, &usage) }
            status.withLock { $0 = s }
            peakResident.withLock { $0 = Int(usage.ru_maxrss) * 1024 }
            return Exit(waitStatus: s)
        }
    }

    /// The child's peak resident memory in bytes (`ru_maxrss` from `wait4`), once it has been waited for.
    public var peakResidentBytes: Int? { peakResident.withLock { $0 } }

    /// Sends `signal` to the child's group (`.own`) or to the child alone (`.parent`), unless it
    /// has already been waited for.
    public func terminate(_ signal: Int32 = SIGTERM) {
        guard status.withLock({ $0 }) == nil else { return }
        kill(processGroup == .own ? -pid : pid, signal)
    }

    /// Runs `executable` to completion with stdout and stderr merged, calling `line` for each
    /// output line; after `timeout` seconds the child (its whole group with `.own`) is SIGKILLed.
    /// With `.own`, whatever the child left running in its group is killed when it exits.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           processGroup: ProcessGroup, timeout: Double, line: (String) -> Void) throws(SystemError) -> Exit {
        let child = try Subprocess(executable, arguments, environment: environment, processGroup: processGroup, errors: .merged)
        let output = child.standardOutput
        defer { output.closeIgnoringErrors() }
        let start = MonotonicClock.now
        var timedOut = false
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let remaining = timeout - (MonotonicClock.now - start)
            if remaining <= 0 && !timedOut {
                timedOut = true
                child.terminate(SIGKILL)
            }
            var pfd = pollfd(fd: output.rawValue, events: Int16(POLLIN), revents: 0)
            let wait = timedOut ? 1000 : Int32(min(max(remaining * 1000, 1), 1000))
            guard case .success(let ready) = Posix.retrying({ poll(&pfd, 1, wait) }) else { break }
            if ready == 0 { continue }
            guard case .success(let n) = Posix.retrying({ read(output.rawValue, &buffer, buffer.count) }), n > 0 else { break }
            pending.append(contentsOf: buffer[0..<n])
            while let newline = pending.firstIndex(of: 10) {
                line(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
        }
        if !pending.isEmpty { line(String(decoding: pending, as: UTF8.self)) }
        let exit = child.wait()
        if processGroup == .own { kill(-child.pid, SIGKILL) }  // anything the child left behind in its group
        return timedOut ? .timedOut(seconds: timeout) : exit
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; the Glibc module does not
/// export it), looked up once by name; nil on an older glibc, where only close-on-exec applies.
private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
}()
