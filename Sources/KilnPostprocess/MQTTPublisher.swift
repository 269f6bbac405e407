import Foundation
import Glibc
import KilnCore
import Synchronization

/// Where and how results are published over MQTT: `mqtt://[USER@]HOST[:PORT]/TOPIC[?qos=0|1&keepalive=S]`.
public struct MQTTEndpoint: Sendable, Equatable {
    /// Broker host name or address.
    public var host: String
    /// Broker port (default 1883).
    public var port: Int
    /// Topic prefix; each stream publishes to `TOPIC/STREAM`.
    public var topic: String
    /// 0 (at most once) or 1 (at least once, PUBACK awaited).
    public var qos: Int
    /// Keepalive in seconds (PINGREQ when idle for half of it).
    public var keepAlive: Int
    /// User name (password from the auth file), if any.
    public var username: String?
    /// Password, if any (never printed).
    public var password: String?

    /// Parses the `--results mqtt://…` form.
    public init(parsing text: String) throws {
        func bad(_ why: String) -> PostprocessError {
            PostprocessError("--results \(text): \(why); write mqtt://HOST[:PORT]/TOPIC[?qos=1], e.g. mqtt://127.0.0.1:1883/kiln/results", exitCode: .usage)
        }
        guard text.hasPrefix("mqtt://") else { throw bad("expected mqtt://") }
        var rest = Substring(text.dropFirst(7))
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") { query = rest[rest.index(after: q)...]; rest = rest[..<q] }
        guard let slash = rest.firstIndex(of: "/") else { throw bad("no topic") }
        var authority = rest[..<slash]
        topic = String(rest[rest.index(after: slash)...])
        while topic.hasSuffix("/") { topic.removeLast() }
        guard !topic.isEmpty, !topic.contains("#"), !topic.contains("+") else { throw bad("the topic must be non-empty, without # or +") }
        if let at = authority.lastIndex(of: "@") { username = String(authority[..<at]); authority = authority[authority.index(after: at)...] }
        if let colon = authority.lastIndex(of: ":") {
            guard let p = Int(authority[authority.index(after: colon)...]), p > 0, p < 65536 else { throw bad("bad port") }
            port = p
            host = String(authority[..<colon])
        } else {
            port = 1883
            host = String(authority)
        }
        guard !host.isEmpty else { throw bad("no host") }
        qos = 0
        keepAlive = 30
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { throw bad("query \(pair)") }
            switch kv[0] {
            case "qos":
                guard let q = Int(kv[1]), q == 0 || q == 1 else { throw bad("qos is 0 or 1") }
                qos = q
            case "keepalive":
                guard let k = Int(kv[1]), k >= 2, k <= 65535 else { throw bad("keepalive is 2–65535 seconds") }
                keepAlive = k
            default: throw bad("unknown query key \(kv[0])")
            }
        }
    }

    /// `mqtt://HOST:PORT/TOPIC?qos=N` (no password).
    public var description: String { "mqtt://\(username.map { "\($0)@" } ?? "")\(host):\(port)/\(topic)?qos=\(qos)" }
}

/// Publishes messages to an MQTT 3.1.1 broker from its own thread, so a slow or dead broker never
/// stalls the caller.
///
/// `enqueue` appends to a bounded `PublishQueue` (the oldest message is dropped and counted when
/// full). The publisher thread connects (reconnecting with exponential backoff, 0.1 s to 5 s),
/// sends each message, waits for its PUBACK at QoS 1 (an unacknowledged message is resent with
/// DUP after a reconnect), and sends PINGREQ when idle for half the keepalive. `close` drains
/// for up to a grace period, then disconnects.
public final class MQTTPublisher: QueuedPublisher {
    /// The broker and topic.
    public let endpoint: MQTTEndpoint
    /// Messages waiting for the publisher thread.
    public let queue: PublishQueue<(topic: String, payload: [UInt8])>
    private let connects = Mutex(0)

    /// Starts the publisher thread for `endpoint`; at most `capacity` messages wait;
    /// `onChange` hears deliveries and drops (for metrics).
    public init(endpoint: MQTTEndpoint, capacity: Int = 1024,
                onChange: (@Sendable (_ delivered: Int, _ dropped: Int) -> Void)? = nil) {
        self.endpoint = endpoint
        queue = PublishQueue(capacity: capacity, onChange: onChange)
        queue.startPublisher(named: "kiln-mqtt") { [self] in run() }
    }

    /// Successful connections so far (more than 1 means it reconnected).
    public var connectionCount: Int { connects.withLock { $0 } }

    /// Queues `payload` for `topic`; never blocks.
    public func enqueue(topic: String, payload: [UInt8]) { queue.push((topic, payload)) }

    /// Publishes what is queued for up to `grace` seconds, then disconnects and stops the thread.
    public func close(grace: Double = 3) { queue.close(grace: grace) }

    // MARK: The publisher thread

    private func run() {
        var socket: FileDescriptor?
        var backoff = 0.1
        var packetID: UInt16 = 0
        var inFlight: (topic: String, payload: [UInt8], id: UInt16, sent: Bool)?
        var lastSend = Date()
        defer {
            if let socket {
                _ = send(socket.rawValue, MQTTPacket.disconnect, MQTTPacket.disconnect.count, Int32(MSG_NOSIGNAL))
                socket.closeIgnoringErrors()
            }
        }
        while true {
            // Next message (the unacknowledged one first), or a keepalive tick.
            if inFlight == nil {
                if let next = queue.batch(limit: 1, deadline: Date().addingTimeInterval(Double(endpoint.keepAlive) / 2)).first {
                    packetID = packetID == UInt16.max ? 1 : packetID + 1
                    inFlight = (next.topic, next.payload, packetID, false)
                } else if queue.isClosing {
                    return
                }
            }
            guard let fd = socket else {
                do {
                    socket = try connect()
                    backoff = 0.1
                    connects.withLock { $0 += 1 }
                    lastSend = Date()
                } catch {
                    report("\(error)", "retrying with backoff")
                    if queue.isClosing {
                        if inFlight != nil { queue.discarded() }
                        return
                    }
                    queue.pause(backoff)
                    backoff = min(5, backoff * 2)
                }
                continue
            }
            do {
                if var message = inFlight {
                    let packet = MQTTPacket.publish(topic: message.topic, payload: message.payload, qos: endpoint.qos,
                                                    packetID: message.id, duplicate: message.sent)
                    message.sent = true
                    inFlight = message
                    try sendAll(fd, packet)
                    lastSend = Date()
                    if endpoint.qos == 1 {
                        try awaitPacket(fd, .puback, id: message.id)
                    }
                    inFlight = nil
                    queue.delivered()
                } else if Date().timeIntervalSince(lastSend) >= Double(endpoint.keepAlive) / 2 {
                    try sendAll(fd, MQTTPacket.pingRequest)
                    lastSend = Date()
                    try awaitPacket(fd, .pingresp, id: nil)
                }
            } catch {
                report("\(error)", "reconnecting")
                fd.closeIgnoringErrors()
                socket = nil
                if queue.isClosing {
                    if inFlight != nil { queue.discarded() }
                    return
                }
            }
        }
    }

    /// Logs a failure once per distinct message (a long outage is not a log flood).
    private func report(_ message: String, _ action: String) {
        if queue.noteFailure(message) { Log.warning("results \(endpoint.description): \(message); \(action)") }
    }

    /// Opens the TCP connection and the MQTT session (CONNECT → CONNACK accepted).
    private func connect() throws -> FileDescriptor {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list)
        guard rc == 0, let first = list else { throw PostprocessError("cannot resolve \(endpoint.host): \(AddressInfoError(rawValue: rc))", exitCode: .runtimeFailure) }
        defer { freeaddrinfo(list) }
        let fd = Glibc.socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw PostprocessError("socket: \(Errno.current)", exitCode: .runtimeFailure) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let e = Errno.current
            Glibc.close(fd)
            throw PostprocessError("cannot connect to \(endpoint.host):\(endpoint.port) (\(e))", exitCode: .runtimeFailure)
        }
        let socket = FileDescriptor(rawValue: fd)
        do {
            let id = "kiln-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try sendAll(socket, MQTTPacket.connect(clientID: id, keepAlive: endpoint.keepAlive,
                                               username: endpoint.username, password: endpoint.password))
            let (kind, body) = try readPacket(socket)
            guard kind == MQTTPacket.Kind.connack.rawValue, body.count == 2 else {
                throw PostprocessError("expected CONNACK, got packet type \(kind)", exitCode: .runtimeFailure)
            }
            guard body[1] == 0 else {
                throw PostprocessError("broker refused the connection: \(MQTTPacket.connackReason(body[1]))", exitCode: .runtimeFailure)
            }
        } catch {
            socket.closeIgnoringErrors()
            throw error
        }
        return socket
    }

    private func sendAll(_ fd: FileDescriptor, _ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            switch Posix.retrying({ bytes.withUnsafeBytes { send(fd.rawValue, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) } }) {
            case .success(let n) where n > 0: off += n
            case .success: throw PostprocessError("send failed: the connection took no bytes", exitCode: .runtimeFailure)
            case .failure(let e): throw PostprocessError("send failed: \(e)", exitCode: .runtimeFailure)
            }
        }
    }

    /// Reads packets until one of `kind` (with packet id `id`, when given) arrives.
    private func awaitPacket(_ fd: FileDescriptor, _ kind: MQTTPacket.Kind, id: UInt16?) throws {
        while true {
            let (type, body) = try readPacket(fd)
            if type == kind.rawValue {
                guard let id else { return }
                if body.count >= 2, UInt16(body[0]) << 8 | UInt16(body[1]) == id { return }
            }
        }
    }

    /// One packet: (type nibble, body); bodies over 1 MiB are refused (a publisher gets tiny acks).
    private func readPacket(_ fd: FileDescriptor) throws -> (UInt8, [UInt8]) {
        let header = try readExactly(fd, 1)
        var length = 0, multiplier = 1
        for _ in 0..<4 {
            let b = try readExactly(fd, 1)[0]
            length += Int(b & 0x7F) * multiplier
            multiplier *= 128
            if b & 0x80 == 0 { break }
        }
        guard length <= 1 << 20 else { throw PostprocessError("broker sent a \(length)-byte packet", exitCode: .runtimeFailure) }
        return (header[0] >> 4, try readExactly(fd, length))
    }

    private func readExactly(_ fd: FileDescriptor, _ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var off = 0
        while off < count {
            switch Posix.retrying({ out.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress! + off, count - off, 0) } }) {
            case .success(0): throw PostprocessError("broker closed the connection", exitCode: .runtimeFailure)
            case .success(let n): off += n
            case .failure(let e): throw PostprocessError("receive failed: \(e)", exitCode: .runtimeFailure)
            }
        }
        return out
    }
}
