import Foundation
import Glibc
import KilnCore
import Synchronization

/// Where results go: one JSON object per line (JSON Lines).
///
/// `--results stdout` (default), `--results file:PATH` (appended; created 0644),
/// `--results unix:PATH` (a SOCK_STREAM Unix socket another process reads; connected lazily and
/// reconnected when the reader restarts: `UnixSocketPublisher`), or
/// `--results mqtt://HOST[:PORT]/TOPIC[?qos=1]` (MQTT 3.1.1, one topic per stream,
/// `TOPIC/STREAM`: `MQTTPublisher`), or `--results http[s]://HOST[:PORT]/PATH` (a webhook:
/// batches POSTed as JSON arrays: `WebhookPublisher`). Those three publish from their own
/// thread through a bounded queue (`PublishQueue`, `queueCapacity` results), so a slow, stalled
/// or dead receiver drops results, never stalls the loop. Stdout and file writes are synchronous
/// on the caller's thread (the loop's postprocessing thread).
public final class ResultSink: Sendable {
    /// The destination.
    public enum Destination: Sendable, Equatable, CustomStringConvertible {
        /// Standard output.
        case stdout
        /// A file, appended to.
        case file(String)
        /// A Unix stream socket.
        case unixSocket(String)
        /// An MQTT broker and topic prefix.
        case mqtt(MQTTEndpoint)
        /// An HTTP endpoint results are POSTed to in batches.
        case webhook(WebhookEndpoint)

        public var description: String {
            switch self {
            case .stdout: "stdout"
            case .file(let p): "file:\(p)"
            case .unixSocket(let p): "unix:\(p)"
            case .mqtt(let e): e.description
            case .webhook(let e): e.description
            }
        }

        /// The kind, as the `sink` label of the results metrics: stdout, file, unix, mqtt, http.
        public var kind: String {
            switch self {
            case .stdout: "stdout"
            case .file: "file"
            case .unixSocket: "unix"
            case .mqtt: "mqtt"
            case .webhook: "http"
            }
        }

        /// Parses `stdout`, `file:PATH`, `unix:PATH`, `mqtt://…`, `http[s]://…` (a bare path means a file).
        public static func parse(_ text: String) throws -> Destination {
            if text == "stdout" || text == "-" { return .stdout }
            if text.hasPrefix("mqtt://") { return .mqtt(try MQTTEndpoint(parsing: text)) }
            if text.hasPrefix("http://") || text.hasPrefix("https://") { return .webhook(try WebhookEndpoint(parsing: text)) }
            if text.hasPrefix("file:"), text.count > 5 { return .file(String(text.dropFirst(5))) }
            if text.hasPrefix("unix:"), text.count > 5 { return .unixSocket(String(text.dropFirst(5))) }
            if text.hasPrefix("/") || text.hasPrefix(".") { return .file(text) }
            throw PostprocessError("--results \(text): expected stdout, file:PATH, unix:PATH, mqtt://HOST:PORT/TOPIC or http://HOST:PORT/PATH", exitCode: .usage)
        }
    }

    /// The destination.
    public let destination: Destination
    private struct State {
        /// The file or stdout written to; nil once closed.
        var fd: FileDescriptor?
        var dropped = 0
        var written = 0
    }
    private let state = Mutex(State())
    private let encoder: JSONEncoder
    /// The MQTT publisher thread, for `mqtt://` destinations.
    public let mqtt: MQTTPublisher?
    /// The webhook publisher thread, for `http[s]://` destinations.
    public let webhook: WebhookPublisher?
    /// The Unix socket publisher thread, for `unix:` destinations.
    public let unix: UnixSocketPublisher?
    private let onChange: (@Sendable (_ delivered: Int, _ dropped: Int) -> Void)?

    /// Results a publisher (unix, MQTT, webhook) queues at most by default.
    public static let defaultQueueCapacity = 1024

    /// Opens the destination (creates/appends the file; the socket, the broker and the webhook
    /// are connected lazily, so a reader that starts later still gets results). At most
    /// `queueCapacity` results wait for a publisher. `onChange` hears every delivered and
    /// dropped result (as counts added), e.g. for metrics.
    public init(_ destination: Destination, queueCapacity: Int = ResultSink.defaultQueueCapacity,
                onChange: (@Sendable (_ delivered: Int, _ dropped: Int) -> Void)? = nil) throws {
        self.destination = destination
        self.onChange = onChange
        let capacity = max(1, queueCapacity)
        if case .mqtt(let endpoint) = destination { mqtt = MQTTPublisher(endpoint: endpoint, capacity: capacity, onChange: onChange) } else { mqtt = nil }
        if case .webhook(let endpoint) = destination {
            webhook = WebhookPublisher(endpoint: endpoint, capacity: capacity, onChange: onChange)
        } else {
            webhook = nil
        }
        if case .unixSocket(let path) = destination {
            unix = try UnixSocketPublisher(path: path, capacity: capacity, onChange: onChange)
        } else {
            unix = nil
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.encoder = encoder
        switch destination {
        case .stdout:
            state.withLock { $0.fd = FileDescriptor(rawValue: STDOUT_FILENO) }
        case .file(let path):
            do {
                let fd = try FileDescriptor.open(path, .writeOnly, options: [.create, .append])
                state.withLock { $0.fd = fd }
            } catch {
                throw PostprocessError("--results file:\(path): cannot open for appending: \(error.errno)", exitCode: .runtimeFailure)
            }
        case .unixSocket, .mqtt, .webhook:
            break
        }
    }

    /// Results written so far (for MQTT: accepted by the broker; for a webhook: answered 2xx;
    /// for a Unix socket: written in full).
    public var writtenCount: Int { mqtt?.deliveredCount ?? webhook?.deliveredCount ?? unix?.deliveredCount ?? state.withLock { $0.written } }
    /// Results dropped by a publisher (queue full, receiver gone or refusing, left at close).
    public var droppedCount: Int { mqtt?.droppedCount ?? webhook?.droppedCount ?? unix?.droppedCount ?? state.withLock { $0.dropped } }

    /// Writes one result as a JSON line (for MQTT: queues it on `TOPIC/STREAM`; for a webhook:
    /// queues it for the next batch).
    public func write(_ result: FrameResult) throws {
        if let mqtt {
            mqtt.enqueue(topic: mqtt.endpoint.topic + "/" + result.stream, payload: Array(try encoder.encode(result)))
            return
        }
        if let webhook {
            webhook.enqueue(try encoder.encode(result))
            return
        }
        var line = try encoder.encode(result)
        line.append(0x0A)
        if let unix {
            unix.enqueue(line)
            return
        }
        let delivered = try writeRaw(line)
        onChange?(delivered ? 1 : 0, delivered ? 0 : 1)
    }

    /// Writes one line to stdout or the file; false when it was dropped (already closed).
    private func writeRaw(_ line: Data) throws -> Bool {
        try state.withLock { s in
            guard let fd = s.fd?.rawValue else { s.dropped += 1; return false }
            // send, so stdout on a socket whose reader went away is EPIPE rather than SIGPIPE; write for files and pipes.
            let failure = line.withUnsafeBytes { raw -> Errno? in
                var off = 0
                while off < raw.count {
                    var sent = Posix.retrying { send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL)) }
                    if case .failure(let e) = sent, e.rawValue == ENOTSOCK {
                        sent = Posix.retrying { Glibc.write(fd, raw.baseAddress! + off, raw.count - off) }
                    }
                    switch sent {
                    case .success(let n): off += n
                    case .failure(let e): return e
                    }
                }
                return nil
            }
            guard let failure else {
                s.written += 1
                return true
            }
            throw PostprocessError("--results \(destination): write failed: \(failure)", exitCode: .runtimeFailure)
        }
    }

    /// Writes every result.
    public func write(_ results: [FrameResult]) throws { for r in results { try write(r) } }

    /// Flushes to disk (files), publishes what is queued (MQTT, webhook: a few seconds at most)
    /// and closes.
    public func close() {
        mqtt?.close()
        webhook?.close()
        unix?.close()
        state.withLock { s in
            if let fd = s.fd, fd.rawValue > STDERR_FILENO {
                if case .file = destination { try? fd.sync() }
                fd.closeIgnoringErrors()
            }
            s.fd = nil
        }
    }

    deinit { close() }
}
