import Dispatch
import Glibc

/// Process signals as an async sequence: SIGHUP (reload the configuration) and SIGTERM/SIGINT
/// (drain and stop), delivered through DispatchSource rather than an async-signal handler.
///
/// ```swift
/// for await signal in SignalEvents.stream([SIGHUP, SIGTERM, SIGINT]) {
///     if signal == SIGHUP { try notifier.reloading(); reload(); try notifier.ready() } else { break }
/// }
/// ```
public enum SignalEvents {
    /// Ignores the default action of `signals` and yields each delivery until the stream ends.
    public static func stream(_ signals: [Int32]) -> AsyncStream<Int32> {
        AsyncStream { continuation in
            let queue = DispatchQueue(label: "kiln.signals")
            var sources: [any DispatchSourceSignal] = []
            for sig in signals {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                source.setEventHandler { continuation.yield(sig) }
                source.resume()
                sources.append(source)
            }
            // The sources are only touched again on their own queue when the stream ends.
            nonisolated(unsafe) let captured = sources
            continuation.onTermination = { _ in
                queue.async { for s in captured { s.cancel() } }
            }
        }
    }
}
