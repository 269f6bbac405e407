import Foundation
import Glibc
import KilnCore
import Synchronization

/// Kiln's HTTP/1.1 telemetry endpoint: `/metrics`, `/healthz`, `/status`.
///
/// A small keep-alive server on Glibc sockets with one dedicated thread running a `poll(2)` loop,
/// so scrapes never touch the cooperative pool or the frame loop. Binds loopback by default
/// (`:PORT` too; all interfaces only when written `0.0.0.0:PORT`).
/// `GET /metrics` serves the Prometheus text format, `/healthz` 200 `ok` or 503 from `health`,
/// `/status` the JSON `status` returns.
///
/// It cannot be exhausted: at most `Limits.maxConnections` connections (a new one evicts the
/// least recently active), a request's headers must arrive within `headerTimeout` and an idle
/// keep-alive connection closes after `idleTimeout`; when the process is out of descriptors
/// (`EMFILE`) the pending connection is accepted on a reserved descriptor and closed instead of
/// spinning. Control routes (`addAction`, POST) need `Authorization: Bearer TOKEN` with the
/// token given to `setControlToken`, and refuse any request carrying an `Origin` (a browser's
/// cross-origin post).
public final class MetricsServer: Sendable {
    /// The default listen address: loopback only.
    public static let defaultAddress = "127.0.0.1:9464"

    /// Produces the `/metrics` body.
    public let exposition: @Sendable () -> String
    /// Produces the `/status` JSON body.
    public let status: @Sendable () -> String
    /// Says whether the agent is healthy (`/healthz`).
    public let health: @Sendable () -> Bool
    /// The address asked for (`HOST:PORT`, `[V6]:PORT`).
    public let address: String
    /// Connection limits and timeouts.
    public let limits: Limits

    /// How many connections the server holds and for how long.
    public struct Limits: Sendable {
        /// Connections held at once; a new connection beyond it evicts the least recently active.
        public var maxConnections: Int
        /// Seconds a request's headers may take to arrive in full.
        public var headerTimeout: Double
        /// Seconds a keep-alive connection may sit idle between requests.
        public var idleTimeout: Double

        /// Creates limits; the defaults keep well under systemd's 1024-descriptor soft limit.
        public init(maxConnections: Int = 256, headerTimeout: Double = 10, idleTimeout: Double = 30) {
            self.maxConnections = max(1, maxConnections)
            self.headerTimeout = headerTimeout
            self.idleTimeout = idleTimeout
        }
    }

    private struct State {
        /// The listening socket, once started.
        var listenFD: FileDescriptor?
        /// The write end of the pipe that wakes the server thread to stop.
        var wakeWrite: FileDescriptor?
        var port: Int = 0
        var stopped = false
    }
    private let state = Mutex(State())
    private let actions = Mutex<[String: @Sendable () -> String]>([:])
    private let resources = Mutex<[String: @Sendable (_ query: [String: String]) -> HTTPResource]>([:])
    private let controlToken = Mutex<String?>(nil)
    private let completion = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Creates a server for `address` serving `metrics` with the given status and health closures.
    public convenience init(address: String = MetricsServer.defaultAddress, metrics: KilnMetrics,
                            status: @escaping @Sendable () -> String = { "{}" },
                            health: @escaping @Sendable () -> Bool = { true }) {
        self.init(address: address, exposition: { metrics.exposition() }, status: status, health: health)
    }

    /// Creates a server with explicit body producers.
    public init(address: String = MetricsServer.defaultAddress, exposition: @escaping @Sendable () -> String,
                status: @escaping @Sendable () -> String, health: @escaping @Sendable () -> Bool,
                limits: Limits = Limits()) {
        self.address = address
        self.limits = limits
        self.exposition = exposition
        self.status = status
        self.health = health
    }

    /// The bound port (useful with port 0); 0 before `start()`.
    public var port: Int { state.withLock { $0.port } }

    /// Binds, listens and starts the server thread; returns the bound port. Idempotent.
    @discardableResult
    public func start() throws -> Int {
        if let port = state.withLock({ $0.listenFD != nil ? $0.port : nil }) { return port }
        let (host, portText) = try Self.split(address)
        let fd = try Self.listen(host: host, port: portText, address: address)
        let wake: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
        do {
            wake = try FileDescriptor.pipe()
        } catch {
            close(fd)
            throw TelemetryError("metrics server \(address): \(error)")
        }
        _ = fcntl(wake.readEnd.rawValue, F_SETFL, fcntl(wake.readEnd.rawValue, F_GETFL) | O_NONBLOCK)
        let port = Self.boundPort(fd)
        let thread = Thread { [self] in
            self.serve(listenFD: fd, wakeFD: wake.readEnd.rawValue)
            let waiters = self.completion.withLock { c -> [CheckedContinuation<Void, Never>] in
                c.done = true
                defer { c.waiters = [] }
                return c.waiters
            }
            for w in waiters { w.resume() }
        }
        thread.name = "kiln-metrics-http"
        state.withLock {
            $0.listenFD = FileDescriptor(rawValue: fd)
            $0.wakeWrite = wake.writeEnd
            $0.port = port
        }
        thread.start()
        Log.info("metrics: serving /metrics, /healthz, /status on \(host.contains(":") ? "[\(host)]" : host):\(port)")
        return port
    }

    /// Stops the server: closes the listener and every connection; the thread exits.
    public func stop() {
        let wake = state.withLock { s -> FileDescriptor? in
            guard !s.stopped else { return nil }
            s.stopped = true
            return s.wakeWrite
        }
        try? wake?.writeAll([1])
    }

    /// Serves until the task is cancelled, then stops (a service in the swift-service-lifecycle sense).
    public func run() async throws {
        try start()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = completion.withLock { s -> Bool in
                    if s.done { return true }
                    s.waiters.append(c)
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            self.stop()
        }
    }

    // MARK: - Sockets

    static func split(_ address: String) throws -> (String, String) {
        let bad = TelemetryError(
            "--metrics-addr \(address): expected HOST:PORT (127.0.0.1:9464, 0.0.0.0:9464, [::1]:9464)", exitCode: .usage)
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]"), address[address.index(after: close)...].hasPrefix(":") else { throw bad }
            let host = String(address[address.index(after: address.startIndex)..<close])
            let port = String(address[address.index(close, offsetBy: 2)...])
            guard UInt16(port) != nil else { throw bad }
            return (host, port)
        }
        guard let colon = address.lastIndex(of: ":") else { throw bad }
        let host = String(address[..<colon]), port = String(address[address.index(after: colon)...])
        guard UInt16(port) != nil, !host.contains(":") else { throw bad }
        // `:PORT` means this machine only; every interface must be asked for (`0.0.0.0:PORT`).
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    static func listen(host: String, port: String, address: String) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, port, &hints, &result)
        guard rc == 0, let first = result else {
            throw TelemetryError("--metrics-addr \(address): cannot resolve \(host): \(AddressInfoError(rawValue: rc))", exitCode: .usage)
        }
        defer { freeaddrinfo(result) }
        var lastError = Errno(rawValue: EADDRNOTAVAIL)
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            defer { ai = a.pointee.ai_next }
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            if fd < 0 { lastError = .current; continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0, Glibc.listen(fd, 1024) == 0 {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                return fd
            }
            lastError = .current
            close(fd)
        }
        throw TelemetryError("--metrics-addr \(address): cannot listen: \(lastError); pick a free port or another address")
    }

    static func boundPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        let family = Int32(storage.ss_family)
        return withUnsafePointer(to: &storage) { p -> Int in
            if family == AF_INET6 {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    // MARK: - Event loop

    private final class Connection {
        let fd: Int32
        var input: [UInt8] = []
        var output: [UInt8] = []
        var written = 0
        var closeAfterWrite = false
        /// When the request being received began (the connection's opening for the first one).
        var requestStart: Double
        /// The last time bytes moved either way.
        var lastActivity: Double
        init(fd: Int32, now: Double) {
            self.fd = fd
            requestStart = now
            lastActivity = now
        }
    }

    private func serve(listenFD: Int32, wakeFD: Int32) {
        var connections: [Int32: Connection] = [:]
        var buffer = [UInt8](repeating: 0, count: 16384)
        // A descriptor kept in reserve: when accept fails with EMFILE it is closed, the pending
        // connection is accepted and closed at once, and the reserve is taken again. Without it
        // the listener stays readable and poll returns immediately forever.
        var spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
        func drop(_ c: Connection) {
            close(c.fd)
            connections[c.fd] = nil
        }
        func evictLeastRecentlyActive() {
            if let victim = connections.values.min(by: { $0.lastActivity < $1.lastActivity }) { drop(victim) }
        }
        loop: while true {
            var pfds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            for c in connections.values {
                pfds.append(pollfd(fd: c.fd, events: Int16(c.output.count > c.written ? POLLOUT : POLLIN), revents: 0))
            }
            if case .failure(let error) = Posix.retrying({ poll(&pfds, nfds_t(pfds.count), connections.isEmpty ? -1 : 1000) }) {
                Log.error("metrics: poll failed: \(error)")
                break
            }
            if pfds[1].revents != 0 { break loop }
            if pfds[0].revents & Int16(POLLIN) != 0 {
                accepting: while true {
                    let fd: Int32
                    switch Posix.retrying({ accept(listenFD, nil, nil) }) {
                    case .success(let accepted): fd = accepted
                    case .failure(let error) where error.rawValue == EMFILE || error.rawValue == ENFILE:
                        if !connections.isEmpty {
                            evictLeastRecentlyActive()
                            continue accepting
                        }
                        if spare >= 0 { close(spare) }
                        let refused = accept(listenFD, nil, nil)
                        if refused >= 0 { close(refused) }
                        spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
                        break accepting
                    case .failure(let error) where error.rawValue == ECONNABORTED: continue accepting
                    case .failure: break accepting
                    }
                    if connections.count >= limits.maxConnections { evictLeastRecentlyActive() }
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                    var one: Int32 = 1
                    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    connections[fd] = Connection(fd: fd, now: MonotonicClock.now)
                }
            }
            let now = MonotonicClock.now
            for p in pfds.dropFirst(2) where p.revents != 0 {
                guard let c = connections[p.fd] else { continue }
                var keep = true
                if p.revents & Int16(POLLOUT) != 0 {
                    keep = flush(c)
                    c.lastActivity = now
                } else if p.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    switch Posix.retrying({ read(c.fd, &buffer, buffer.count) }) {
                    case .failure(let error): keep = error.rawValue == EAGAIN
                    case .success(0): keep = false
                    case .success(let got):
                        if c.input.isEmpty && c.output.count == c.written { c.requestStart = now }
                        c.input.append(contentsOf: buffer[0..<got])
                        c.lastActivity = now
                        keep = handleInput(c)
                    }
                }
                if !keep { drop(c) }
            }
            // Slow or silent clients: headers that never finish, keep-alive connections left idle.
            for c in Array(connections.values) {
                let receiving = !c.input.isEmpty || c.lastActivity == c.requestStart
                if receiving && now - c.requestStart > limits.headerTimeout { drop(c) }
                else if now - c.lastActivity > limits.idleTimeout { drop(c) }
            }
        }
        if spare >= 0 { close(spare) }
        for c in connections.values { close(c.fd) }
        close(listenFD)
        close(wakeFD)
        state.withLock { $0.wakeWrite }?.closeIgnoringErrors()
    }

    /// Parses complete requests in `c.input` and queues responses; false closes the connection.
    private func handleInput(_ c: Connection) -> Bool {
        while c.output.count == c.written {
            guard let end = Self.headerEnd(c.input) else {
                return c.input.count <= 65536  // refuse endless headers
            }
            let head = String(decoding: c.input[0..<end], as: UTF8.self)
            c.input.removeFirst(end + 4)
            let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
            let parts = lines.first?.split(separator: " ") ?? []
            guard parts.count == 3 else {
                queue(c, status: "400 Bad Request", type: "text/plain", body: "bad request line\n", close: true)
                break
            }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            if let length = headers["content-length"].flatMap(Int.init), length > 0 {
                // Bodies are not expected; discard what arrived of one.
                c.input.removeFirst(min(length, c.input.count))
            }
            let version = parts[2]
            let connection = headers["connection"]?.lowercased()
            let close = connection == "close" || (version == "HTTP/1.0" && connection != "keep-alive")
            respond(c, method: String(parts[0]), target: String(parts[1]), headers: headers, close: close)
        }
        return flush(c)
    }

    /// Compares two strings in time that depends only on their lengths.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }

    private static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }

    /// Registers a POST route (`/rollout/poll`): the handler runs on the server thread and its
    /// text is returned with 202 Accepted. Handlers must be quick; they should only trigger work.
    /// Requests need the bearer token of `setControlToken` (without one, every POST is refused).
    public func addAction(path: String, _ handler: @escaping @Sendable () -> String) {
        actions.withLock { $0[path] = handler }
    }

    /// Registers a GET route serving bytes (`/snapshot.png`): the handler gets the query's
    /// parameters (percent-decoded) and runs on the server thread, so its cost must be bounded.
    public func addResource(path: String, _ handler: @escaping @Sendable (_ query: [String: String]) -> HTTPResource) {
        resources.withLock { $0[path] = handler }
    }

    /// `a=1&b=x%20y` as a dictionary (the last value of a repeated name wins).
    static func queryParameters(_ target: String) -> [String: String] {
        guard let q = target.firstIndex(of: "?") else { return [:] }
        var result: [String: String] = [:]
        for pair in target[target.index(after: q)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(parts[1])) : ""
            result[name] = value
        }
        return result
    }

    /// Sets the bearer token control routes require; nil turns them off.
    public func setControlToken(_ token: String?) {
        controlToken.withLock { $0 = token }
    }

    private func respond(_ c: Connection, method: String, target: String, headers: [String: String], close: Bool) {
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        if method == "POST", let action = actions.withLock({ $0[path] }) {
            if let origin = headers["origin"] {
                queue(c, status: "403 Forbidden", type: "text/plain",
                      body: "cross-origin request (Origin: \(origin.prefix(100))) refused; control endpoints take no browser requests\n", close: close)
                return
            }
            guard let token = controlToken.withLock({ $0 }) else {
                queue(c, status: "403 Forbidden", type: "text/plain",
                      body: "control endpoints are off; start kiln with --control-token-file FILE (a 0600 file holding a token)\n", close: close)
                return
            }
            guard Self.constantTimeEqual(headers["authorization"] ?? "", "Bearer \(token)") else {
                queue(c, status: "401 Unauthorized", type: "text/plain",
                      body: "send Authorization: Bearer TOKEN with the token of --control-token-file\n", close: close,
                      extra: "WWW-Authenticate: Bearer realm=\"kiln\"\r\n")
                return
            }
            queue(c, status: "202 Accepted", type: "text/plain", body: action(), close: close)
            return
        }
        guard method == "GET" || method == "HEAD" else {
            queue(c, status: "405 Method Not Allowed", type: "text/plain", body: "only GET and HEAD here\n", close: close,
                  extra: "Allow: GET, HEAD\r\n")
            return
        }
        let head = method == "HEAD"
        switch path {
        case "/metrics":
            queue(c, status: "200 OK", type: "text/plain; version=0.0.4; charset=utf-8", body: exposition(), close: close, head: head)
        case "/healthz":
            let ok = health()
            queue(c, status: ok ? "200 OK" : "503 Service Unavailable", type: "text/plain",
                  body: ok ? "ok\n" : "unhealthy\n", close: close, head: head)
        case "/status":
            queue(c, status: "200 OK", type: "application/json", body: status(), close: close, head: head)
        case "/":
            queue(c, status: "200 OK", type: "text/plain", body: "kiln telemetry: \(servedPaths().joined(separator: " "))\n", close: close, head: head)
        default:
            if let resource = resources.withLock({ $0[path] }) {
                let r = resource(Self.queryParameters(target))
                queue(c, status: r.status, type: r.contentType, bytes: r.body, close: close, head: head, extra: "Cache-Control: no-store\r\n")
                return
            }
            queue(c, status: "404 Not Found", type: "text/plain", body: "no such path \(path); try \(servedPaths().joined(separator: ", "))\n",
                  close: close, head: head)
        }
    }

    /// The GET paths served: the three built in, then the added resources (`/snapshot.png`).
    private func servedPaths() -> [String] {
        ["/metrics", "/healthz", "/status"] + resources.withLock { $0.keys.sorted() }
    }

    private func queue(_ c: Connection, status: String, type: String, body: String, close: Bool, head: Bool = false,
                       extra: String = "") {
        queue(c, status: status, type: type, bytes: Array(body.utf8), close: close, head: head, extra: extra)
    }

    private func queue(_ c: Connection, status: String, type: String, bytes bodyBytes: [UInt8], close: Bool, head: Bool = false,
                       extra: String = "") {
        var text = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(bodyBytes.count)\r\n\(extra)"
        text += close ? "Connection: close\r\n\r\n" : "\r\n"
        c.output = Array(text.utf8) + (head ? [] : bodyBytes)
        c.written = 0
        c.closeAfterWrite = close
    }

    /// Writes what it can of the pending response; false when the connection should close.
    private func flush(_ c: Connection) -> Bool {
        while c.written < c.output.count {
            switch Posix.retrying({ c.output.withUnsafeBytes { write(c.fd, $0.baseAddress! + c.written, $0.count - c.written) } }) {
            case .success(let n): c.written += n
            case .failure(let error): return error.rawValue == EAGAIN
            }
        }
        if c.closeAfterWrite { return false }
        c.output.removeAll(keepingCapacity: true)
        c.written = 0
        // Pipelined requests already buffered.
        if !c.input.isEmpty { return handleInput(c) }
        return true
    }
}

/// A response of a GET route added with `MetricsServer.addResource`.
public struct HTTPResource: Sendable {
    /// The status line's code and reason, e.g. `200 OK`.
    public var status: String
    /// The `Content-Type`.
    public var contentType: String
    /// The body.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: String = "200 OK", contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// A plain-text response (errors: `404 Not Found`, `503 Service Unavailable`).
    public static func text(_ status: String, _ message: String) -> HTTPResource {
        HTTPResource(status: status, contentType: "text/plain", body: Array((message + "\n").utf8))
    }
}
