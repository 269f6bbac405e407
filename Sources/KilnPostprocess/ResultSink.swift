import Foundation
import Glibc
import KilnCore
import Synchronization

/// Where results go: one JSON object per line (JSON Lines).
///
/// `--results stdout` (default), `--results file:PATH` (appended; created 0644),
/// `--results unix:PATH` (a SOCK_STREAM Unix socket another process reads; connected lazily and
/// reconnected when the reader restarts, results written while nobody listens are counted as
/// dropped), or `--results mqtt://HOST[:PORT]/TOPIC[?qos=1]` (MQTT 3.1.1, one topic per stream,
/// `TOPIC/STREAM`, published from its own thread through a bounded queue: `MQTTPublisher`), or
/// `--results http[s]://HOST[:PORT]/PATH` (a webhook: batches POSTed as JSON arrays from its own
/// thread through a bounded queue: `WebhookPublisher`). Other writes are synchronous on the caller's thread (the loop's postprocessing thread).
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
        /// The file, socket or stdout written to; nil while a socket reader is not connected.
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
    private let onChange: (@Sendable (_ delivered: Int, _ dropped: Int) -> Void)?

    /// Opens the destination (creates/appends the file; the socket, the broker and the webhook
    /// are connected lazily, so a reader that starts later still gets results). `onChange` hears
    /// every delivered and dropped result (as counts added), e.g. for metrics.
    public init(_ destination: Destination, onChange: (@Sendable (_ delivered: Int, _ dropped: Int) -> Void)? = nil) throws {
        self.destination = destination
        self.onChange = onChange
        if case .mqtt(let endpoint) = destination { mqtt = MQTTPublisher(endpoint: endpoint, onChange: onChange) } else { mqtt = nil }
        if case .webhook(let endpoint) = destination { webhook = WebhookPublisher(endpoint: endpoint, onChange: onChange) } else { webhook = nil }
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
        case .unixSocket(let path):
            state.withLock { $0.fd = try? Self.connect(path) }
        case .mqtt, .webhook:
            break
        }
    }

    static func connect(_ path: String) throws -> FileDescriptor {
        let fd: Int32
        do {
            fd = try Posix.call("socket", path: path) { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        } catch {
            throw PostprocessError("--results unix:\(path): \(error)", exitCode: .runtimeFailure)
        }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(fd)
            throw PostprocessError("--results unix:\(path): socket path too long", exitCode: .usage)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = Errno.current
            Glibc.close(fd)
            throw PostprocessError("--results unix:\(path): cannot connect (\(e)); start the reader listening on that socket first", exitCode: .runtimeFailure)
        }
        return FileDescriptor(rawValue: fd)
    }

    /// Results written so far (for MQTT: accepted by the broker; for a webhook: answered 2xx).
    public var writtenCount: Int { mqtt?.publishedCount ?? webhook?.deliveredCount ?? state.withLock { $0.written } }
    /// Results dropped because the socket reader was gone or the publisher's queue was full.
    public var droppedCount: Int { mqtt?.droppedCount ?? webhook?.droppedCount ?? state.withLock { $0.dropped } }

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
        let delivered = try writeRaw(line)
        onChange?(delivered ? 1 : 0, delivered ? 0 : 1)
    }

    /// Writes one line; false when it was dropped (no socket reader).
    private func writeRaw(_ line: Data) throws -> Bool {
        try state.withLock { s in
            if s.fd == nil, case .unixSocket(let path) = destination { s.fd = try? Self.connect(path) }
            guard let fd = s.fd?.rawValue else { s.dropped += 1; return false }
            // send, so a reader that went away is EPIPE rather than SIGPIPE; write for files and stdout.
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
            guard case .unixSocket = destination else {
                throw PostprocessError("--results \(destination): write failed: \(failure)", exitCode: .runtimeFailure)
            }
            s.fd?.closeIgnoringErrors()
            s.fd = nil
            s.dropped += 1
            return false
        }
    }

    /// Writes every result.
    public func write(_ results: [FrameResult]) throws { for r in results { try write(r) } }

    /// Flushes to disk (files), publishes what is queued (MQTT, webhook: a few seconds at most)
    /// and closes.
    public func close() {
        mqtt?.close()
        webhook?.close()
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
