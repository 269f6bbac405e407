import Glibc
import KilnCore

/// Turns SIGINT, SIGTERM and SIGHUP into callbacks on a private dispatch queue (a `UnixSignal`).
///
/// The signals' default actions are disabled while the watcher lives, so Ctrl-C drains the loop
/// and prints the summary instead of killing the process.
public final class SignalWatcher: Sendable {
    private let watch: UnixSignal

    /// Watches `signals`, calling `handler` with the signal number for each delivery.
    public init(_ signals: [Int32] = [SIGINT, SIGTERM, SIGHUP], handler: @escaping @Sendable (Int32) -> Void) {
        watch = UnixSignal(signals, handler: handler)
    }

    /// Stops watching and restores the default actions.
    public func cancel() { watch.cancel() }
}
