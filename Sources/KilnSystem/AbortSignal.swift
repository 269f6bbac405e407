#if os(Linux)
import Glibc

/// Makes a SIGABRT from outside (systemd's watchdog: `WatchdogSec=` expired) end Kiln once the
/// Swift runtime's backtracer has printed every thread's stack.
///
/// The runtime's crash handler prints the backtrace and then returns, relying on the fault
/// recurring; that holds for `abort()` (glibc raises again) but not for a signal another process
/// sent: the hung process would then live on until systemd's `TimeoutAbortSec=` kills it.
/// `install()` wraps the runtime's handler: after it returns, SIGABRT is reset to its default
/// action and raised again, so the process ends by that signal at once. Without a runtime
/// handler (backtracing disabled) nothing is changed: the default action already ends it.
public enum AbortSignal {
    /// The handler the runtime installed, called first by `wrapper`.
    nonisolated(unsafe) private static var runtimeHandler = sigaction()

    /// Installs the wrapper over the Swift runtime's SIGABRT handler, if there is one.
    public static func install() {
        var current = sigaction()
        guard sigaction(SIGABRT, nil, &current) == 0, (current.sa_flags & SA_SIGINFO) != 0,
              current.__sigaction_handler.sa_sigaction != nil else { return }
        runtimeHandler = current
        var wrapped = current
        wrapped.__sigaction_handler.sa_sigaction = { signal, info, context in
            // Async-signal-safe from here on: a C function pointer call, signal(2), raise(3).
            AbortSignal.runtimeHandler.__sigaction_handler.sa_sigaction?(signal, info, context)
            Glibc.signal(SIGABRT, SIG_DFL)
            var unblock = sigset_t()
            sigemptyset(&unblock)
            sigaddset(&unblock, SIGABRT)
            sigprocmask(SIG_UNBLOCK, &unblock, nil)
            raise(SIGABRT)
        }
        sigaction(SIGABRT, &wrapped, nil)
    }
}
#endif
