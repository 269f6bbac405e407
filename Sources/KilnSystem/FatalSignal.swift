#if os(Linux)
import Glibc

/// Makes a fatal signal end Kiln once the Swift runtime's backtracer has printed every thread's
/// stack, also when another process sent it.
///
/// The runtime's crash handler prints the backtrace and then returns, relying on the fault
/// recurring. That holds for a real fault (the instruction runs again under the default action)
/// and for `abort()` (glibc raises again), but not for a signal another process sent with
/// `kill`: systemd's watchdog sends SIGABRT when `WatchdogSec=` expires, and an operator may send
/// SIGSEGV or SIGBUS to get a backtrace. The process would then live on, serving, and a hung one
/// would stay until systemd's `TimeoutAbortSec=` kills it without a trace.
/// `install()` wraps the runtime's handler of each fatal signal: after it returns, the signal is
/// reset to its default action and raised again, so the process ends by that signal at once.
/// Where the runtime installed no handler (backtracing disabled) nothing is changed: the default
/// action already ends the process.
public enum FatalSignal {
    /// The signals the Swift runtime's backtracer handles.
    public static let handled: [Int32] = [SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP]

    /// The runtime's handlers, indexed by signal number: a plain C array, because the wrapper
    /// reads it inside a signal handler (no Swift collection access there).
    nonisolated(unsafe) private static var runtimeHandlers: UnsafeMutablePointer<sigaction>? = nil

    /// Installs the wrapper over the Swift runtime's handler of each signal in `handled`.
    ///
    /// Call once, at start, before any other thread exists.
    public static func install() {
        guard runtimeHandlers == nil else { return }
        let table = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)  // _NSIG: every signal number
        table.initialize(repeating: sigaction(), count: 65)
        runtimeHandlers = table
        for signal in handled {
            var current = sigaction()
            guard sigaction(signal, nil, &current) == 0, (current.sa_flags & SA_SIGINFO) != 0,
                  current.__sigaction_handler.sa_sigaction != nil else { continue }
            table[Int(signal)] = current
            var wrapped = current
            wrapped.__sigaction_handler.sa_sigaction = { signal, info, context in
                // Async-signal-safe from here on: a C function pointer call, signal(2), raise(3).
                FatalSignal.runtimeHandlers?[Int(signal)].__sigaction_handler.sa_sigaction?(signal, info, context)
                Glibc.signal(signal, SIG_DFL)
                var unblock = sigset_t()
                sigemptyset(&unblock)
                sigaddset(&unblock, signal)
                sigprocmask(SIG_UNBLOCK, &unblock, nil)
                raise(signal)
            }
            sigaction(signal, &wrapped, nil)
        }
    }
}
#endif
