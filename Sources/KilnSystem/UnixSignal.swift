import Dispatch
import Glibc
import Synchronization

/// Kiln's one source of process signals (SIGINT, SIGTERM, SIGHUP, …): delivered through
/// DispatchSource on a private queue, never in an async-signal handler.
///
/// While a watch lives the signals' default actions are disabled (so Ctrl-C drains instead of
/// killing); `cancel()` restores them. Children started with `Subprocess` get the defaults back.
public final class UnixSignal: Sendable {
    private let sources: Mutex<[any DispatchSourceSignal]>

    /// Watches `signals`, calling `handler` with the signal number for each delivery.
    public init(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        let queue = DispatchQueue(label: "kiln.signals")
        var made: [any DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            made.append(source)
        }
        sources = Mutex(made)
    }

    /// Stops watching and restores the signals' default actions.
    public func cancel() {
        let watched = sources.withLock { s in
            defer { s = [] }
            return s
        }
        for source in watched {
            source.cancel()
            signal(Int32(source.handle), SIG_DFL)
        }
    }

    /// The deliveries of `signals` as an async sequence; watching stops when the stream ends.
    ///
    /// ```swift
    /// for await signal in UnixSignal.stream([SIGHUP, SIGTERM]) { if signal == SIGHUP { reload() } else { break } }
    /// ```
    public static func stream(_ signals: [Int32]) -> AsyncStream<Int32> {
        AsyncStream { continuation in
            let watch = UnixSignal(signals) { continuation.yield($0) }
            continuation.onTermination = { _ in watch.cancel() }
        }
    }
}
