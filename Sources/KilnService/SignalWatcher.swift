import Dispatch
import Glibc

/// Turns SIGINT, SIGTERM and SIGHUP into callbacks on a private dispatch queue.
///
/// The signals' default actions are disabled while the watcher lives, so Ctrl-C drains the loop
/// and prints the summary instead of killing the process. Dispatch sources are thread-safe;
/// the array is never mutated after init.
public final class SignalWatcher: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let queue = DispatchQueue(label: "kiln.signals")

    /// Watches `signals`, calling `handler` with the signal number for each delivery.
    public init(_ signals: [Int32] = [SIGINT, SIGTERM, SIGHUP], handler: @escaping @Sendable (Int32) -> Void) {
        var made: [any DispatchSourceSignal] = []
        for sig in signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { handler(sig) }
            source.resume()
            made.append(source)
        }
        sources = made
    }

    /// Stops watching and restores the default actions.
    public func cancel() {
        for s in sources {
            s.cancel()
            signal(Int32(s.handle), SIG_DFL)
        }
    }
}
