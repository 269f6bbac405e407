import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import KilnCore
import Synchronization

/// An OCI distribution client: manifests, blobs (streamed to disk, resumed with Range,
/// verified), uploads (monolithic and chunked), and auth (anonymous, Basic, Bearer tokens).
///
/// Credentials come from an `AuthFile` and are sent only to the registry host they belong to
/// (and to the token realm it names); they never appear in logs or errors.
public final class RegistryClient: Sendable {
    /// Client settings.
    public struct Configuration: Sendable {
        /// Credentials by host.
        public var auth: AuthFile
        /// Hosts (`HOST:PORT`) reached over plain HTTP instead of HTTPS.
        public var insecureHosts: Set<String>
        /// Retries for failed requests and interrupted downloads.
        public var retry: RetryPolicy
        /// Blobs larger than this are uploaded in chunks of this size (PATCH); smaller ones in one PUT.
        public var chunkSize: Int
        /// Idle timeout of a connection, seconds.
        public var idleTimeout: Double
        /// A PEM bundle of extra CAs trusted besides the system's (uses libcurl directly:
        /// Linux's URLSession cannot take one).
        public var caBundle: String?
        /// Seconds a whole pull may take, retries included, before it stops (a crawling link
        /// must not hold a pull forever); the next pull resumes what was kept.
        public var pullDeadline: Double = 1800
        /// Where blob downloads and uploads report their progress.
        public var progress: ProgressHub = .shared

        /// Creates a configuration.
        public init(auth: AuthFile = AuthFile(), insecureHosts: Set<String> = [], retry: RetryPolicy = RetryPolicy(),
                    chunkSize: Int = 8 << 20, idleTimeout: Double = 30, caBundle: String? = nil) {
            self.auth = auth
            self.insecureHosts = insecureHosts
            self.retry = retry
            self.chunkSize = chunkSize
            self.idleTimeout = idleTimeout
            self.caBundle = caBundle
        }
    }

    /// The configuration in use.
    public let configuration: Configuration
    private let transport: any HTTPExchanging
    private enum Authorization: Sendable {
        case basic(String)
        case bearer(String, expires: Double)
    }
    private let authCache = Mutex<[String: Authorization]>([:])
    /// Requests sent, for tests and statistics.
    public let requestCount = Atomic<Int>(0)

    /// Creates a client.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        if let bundle = configuration.caBundle {
            self.transport = CurlTransport(caBundle: bundle, idleTimeout: configuration.idleTimeout)
        } else {
            self.transport = HTTPTransport(idleTimeout: configuration.idleTimeout)
        }
    }

    // MARK: Manifests

    /// The digest a tag or digest reference currently resolves to (HEAD; GET if the registry
    /// sends no `Docker-Content-Digest`).
    public func resolve(_ ref: RegistryReference) async throws -> (digest: Digest, mediaType: String?) {
        let url = try endpoint(ref.host, "/v2/\(ref.repository)/manifests/\(ref.manifestReference)")
        let response = try await request("HEAD", url, ref: ref, headers: ["Accept": MediaTypes.acceptedManifests.joined(separator: ", ")])
        try check(response, ok: [200], what: "manifest \(ref)")
        if let text = response.header("docker-content-digest"), let digest = try? Digest(parsing: text) {
            return (digest, response.header("content-type"))
        }
        let (bytes, type) = try await manifest(ref)
        return (Digest.of(bytes), type)
    }

    /// The manifest bytes and media type for `ref` (tag or digest); verifies a pinned digest.
    public func manifest(_ ref: RegistryReference) async throws -> (bytes: [UInt8], mediaType: String?) {
        let url = try endpoint(ref.host, "/v2/\(ref.repository)/manifests/\(ref.manifestReference)")
        let response = try await request("GET", url, ref: ref, headers: ["Accept": MediaTypes.acceptedManifests.joined(separator: ", ")])
        try check(response, ok: [200], what: "manifest \(ref)")
        guard response.body.count <= 4 << 20 else {
            throw RegistryError(.sizeMismatch, "manifest \(ref) is \(response.body.count) bytes; manifests over 4 MiB are refused")
        }
        if let digest = ref.digest, Digest.of(response.body) != digest {
            throw RegistryError(.digestMismatch, "manifest \(ref) from \(ref.host) hashes to \(Digest.of(response.body)), not the requested \(digest); refusing it")
        }
        return (response.body, response.header("content-type").map { String($0.split(separator: ";")[0]) })
    }

    /// Uploads a manifest under `reference` (a tag or its digest); returns its digest.
    @discardableResult
    public func putManifest(_ bytes: [UInt8], mediaType: String, to ref: RegistryReference) async throws -> Digest {
        let url = try endpoint(ref.host, "/v2/\(ref.repository)/manifests/\(ref.manifestReference)")
        let response = try await request("PUT", url, ref: ref, push: true, headers: ["Content-Type": mediaType], body: Data(bytes))
        try check(response, ok: [200, 201], what: "manifest upload to \(ref)")
        return Digest.of(bytes)
    }

    // MARK: Blobs

    /// True if the repository already has the blob.
    public func blobExists(_ digest: Digest, in ref: RegistryReference, push: Bool = false) async throws -> Bool {
        let url = try endpoint(ref.host, "/v2/\(ref.repository)/blobs/\(digest)")
        let response = try await request("HEAD", url, ref: ref, push: push)
        if response.status == 404 { return false }
        try check(response, ok: [200], what: "blob \(digest) in \(ref.host)/\(ref.repository)")
        return true
    }

    /// Downloads a blob into `partialPath`, resuming from whatever that file already holds, and
    /// returns the sha256 of the complete file. Stops at the descriptor's size; interrupted
    /// transfers are resumed with `Range` up to `retry.attempts` times.
    ///
    /// The caller compares the returned digest with the descriptor and discards the file on a
    /// mismatch; this method only guarantees that the file holds exactly `size` bytes.
    public func downloadBlob(_ descriptor: OCIDescriptor, from ref: RegistryReference, to partialPath: String) async throws -> Digest {
        let url = try endpoint(ref.host, "/v2/\(ref.repository)/blobs/\(descriptor.digest)")
        var failures = 0
        var lastError = ""
        let progress = configuration.progress.begin(
            .pull, subject: "\(ref.host)/\(ref.repository) \(descriptor.digest.short)", unit: .bytes, total: descriptor.size)
        var succeeded = false
        defer { progress.finish(succeeded ? .succeeded : .failed) }
        while true {
            let sink = try FileSink(path: partialPath, limit: descriptor.size, progress: progress)
            if sink.written == descriptor.size {
                succeeded = true
                try sink.finish()
                return Digest(hex: sink.digestHex())
            }
            var headers: [String: String] = [:]
            if sink.written > 0 {
                headers["Range"] = "bytes=\(sink.written)-"
                Log.info("resuming \(descriptor.digest.short) from \(ref.host)/\(ref.repository) at byte \(sink.written) of \(descriptor.size)")
            }
            do {
                let response = try await request("GET", url, ref: ref, headers: headers, sink: sink, retries: false)
                try sink.finish()
                switch response.status {
                case 200, 206:
                    if !sink.accepted {
                        // A 206 that does not start where the file ends: start over from byte 0.
                        try? FileManager.default.removeItem(atPath: partialPath)
                        lastError = "registry answered a range that does not continue the partial file"
                    } else if sink.written == descriptor.size {
                        succeeded = true
                        return Digest(hex: sink.digestHex())
                    } else {
                        lastError = "connection closed at byte \(sink.written) of \(descriptor.size)"
                    }
                case 416:
                    try? FileManager.default.removeItem(atPath: partialPath)
                    lastError = "registry refused the resume range"
                case 404:
                    throw RegistryError(.notFound, "blob \(descriptor.digest) is not in \(ref.host)/\(ref.repository) (404)")
                case 408, 429, 500...599:
                    lastError = "HTTP \(response.status)"
                default:
                    try check(response, ok: [], what: "blob \(descriptor.digest) from \(ref.host)/\(ref.repository)")
                }
            } catch let error as RegistryError {
                try? sink.finish()
                if error.kind == .sizeMismatch { try? FileManager.default.removeItem(atPath: partialPath) }
                throw error
            } catch is CancellationError {
                try? sink.finish()
                throw CancellationError()
            } catch {
                try? sink.finish()
                lastError = Self.describe(error)
                if Self.isPermanent(error) { throw transportError(error, ref: ref, url: url, failures: failures + 1) }
            }
            failures += 1
            if failures > configuration.retry.attempts {
                let have = (try? FileManager.default.attributesOfItem(atPath: partialPath)[.size] as? Int64) ?? 0
                throw RegistryError(.transport, "download of \(descriptor.digest) from \(ref.host)/\(ref.repository) failed after \(failures) attempts (\(lastError)); \(have) of \(descriptor.size) bytes are kept and the next pull resumes from there")
            }
            let delay = configuration.retry.delay(attempt: failures - 1)
            Log.info("download of \(descriptor.digest.short) interrupted (\(lastError)); retrying in \(String(format: "%.2f", delay)) s")
            try await Task.sleep(for: .seconds(delay))
        }
    }

    /// Uploads a blob from `path` unless the repository has it: one PUT when it fits in
    /// `chunkSize`, else PATCH chunks then a closing PUT.
    public func uploadBlob(_ descriptor: OCIDescriptor, from path: String, to ref: RegistryReference) async throws {
        if try await blobExists(descriptor.digest, in: ref, push: true) { return }
        let start = try endpoint(ref.host, "/v2/\(ref.repository)/blobs/uploads/")
        let opened = try await request("POST", start, ref: ref, push: true, headers: ["Content-Length": "0"], body: Data())
        try check(opened, ok: [202], what: "blob upload to \(ref.host)/\(ref.repository)")
        var location = try uploadLocation(opened, base: start)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw RegistryError(.io, "cannot read \(path) to upload it")
        }
        defer { try? handle.close() }
        func readChunk() throws -> Data {
            do { return try handle.read(upToCount: configuration.chunkSize) ?? Data() } catch {
                throw RegistryError(.io, "cannot read \(path): \(error)")
            }
        }
        var body = Data()
        // Progress moves per chunk (the transports send a body in one piece).
        let progress = configuration.progress.begin(
            .publish, subject: "\(ref.host)/\(ref.repository) \(descriptor.digest.short)", unit: .bytes, total: descriptor.size)
        var uploaded = false
        defer { progress.finish(uploaded ? .succeeded : .failed) }
        if descriptor.size > Int64(configuration.chunkSize) {
            var offset: Int64 = 0
            while true {
                let chunk = try readChunk()
                if chunk.isEmpty { break }
                let response = try await request("PATCH", location, ref: ref, push: true, headers: [
                    "Content-Type": "application/octet-stream",
                    "Content-Range": "\(offset)-\(offset + Int64(chunk.count) - 1)",
                ], body: chunk)
                try check(response, ok: [202], what: "chunk at \(offset) of blob \(descriptor.digest) to \(ref.host)/\(ref.repository)")
                location = try uploadLocation(response, base: location)
                offset += Int64(chunk.count)
                progress.update(done: offset)
            }
            guard offset == descriptor.size else {
                throw RegistryError(.sizeMismatch, "\(path) changed while uploading: \(offset) bytes, descriptor says \(descriptor.size)")
            }
        } else {
            body = try readChunk()
        }
        var components = URLComponents(url: location, resolvingAgainstBaseURL: true)!
        components.queryItems = (components.queryItems ?? []) + [URLQueryItem(name: "digest", value: descriptor.digest.description)]
        guard let closeURL = components.url else { throw RegistryError(.protocolError, "bad upload location \(location)") }
        let closed = try await request("PUT", closeURL, ref: ref, push: true, headers: ["Content-Type": "application/octet-stream"], body: body)
        try check(closed, ok: [201, 204], what: "blob \(descriptor.digest) upload to \(ref.host)/\(ref.repository)")
        progress.update(done: descriptor.size)
        uploaded = true
    }

    private func uploadLocation(_ response: HTTPTransport.Response, base: URL) throws -> URL {
        guard let text = response.header("location"), let url = URL(string: text, relativeTo: base)?.absoluteURL else {
            throw RegistryError(.protocolError, "registry \(base.host ?? "") started an upload without a Location header")
        }
        return url
    }

    // MARK: Requests and auth

    func endpoint(_ host: String, _ path: String) throws -> URL {
        let scheme = configuration.insecureHosts.contains(host) ? "http" : "https"
        guard let url = URL(string: "\(scheme)://\(host)\(path)") else {
            throw RegistryError(.invalidReference, "cannot form a URL for \(host)\(path)")
        }
        return url
    }

    /// Sends one request with authentication (answering a 401 challenge once) and, unless
    /// `retries` is false, retries network failures, 429 and 5xx with backoff.
    func request(_ method: String, _ url: URL, ref: RegistryReference, push: Bool = false, headers: [String: String] = [:],
                 body: Data? = nil, sink: (any HTTPTransport.BodySink)? = nil, retries: Bool = true) async throws -> HTTPTransport.Response {
        let scope = "repository:\(ref.repository):" + (push ? "pull,push" : "pull")
        var authenticated = false
        var failures = 0
        while true {
            var request = URLRequest(url: url)
            request.httpMethod = method
            for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
            if let body { request.httpBody = body }
            if let auth = cachedAuthorization(host: ref.host, scope: scope) {
                request.setValue(auth, forHTTPHeaderField: "Authorization")
            }
            let response: HTTPTransport.Response
            do {
                requestCount.add(1, ordering: .relaxed)
                response = try await transport.send(request, sink: sink)
            } catch let error as RegistryError {
                throw error
            } catch {
                if Task.isCancelled { throw CancellationError() }
                // Downloads retry themselves (resuming with Range); hand them the raw failure.
                if !retries { throw error }
                failures += 1
                guard failures <= configuration.retry.attempts, !Self.isPermanent(error) else {
                    throw transportError(error, ref: ref, url: url, failures: failures)
                }
                try await Task.sleep(for: .seconds(configuration.retry.delay(attempt: failures - 1)))
                continue
            }
            if response.status == 401 {
                guard !authenticated else { throw rejected(ref: ref, response: response) }
                authenticated = true
                try await authenticate(response, ref: ref, scope: scope)
                continue
            }
            if retries, Self.retriedStatuses.contains(response.status) || (500...599).contains(response.status),
               failures < configuration.retry.attempts {
                failures += 1
                try await Task.sleep(for: .seconds(configuration.retry.delay(attempt: failures - 1)))
                continue
            }
            return response
        }
    }

    private func cachedAuthorization(host: String, scope: String) -> String? {
        authCache.withLock { cache in
            if case .basic(let h)? = cache[host] { return h }
            if case .bearer(let token, let expires)? = cache[host + " " + scope], expires > MonotonicClock.now {
                return "Bearer " + token
            }
            return nil
        }
    }

    private func authenticate(_ response: HTTPTransport.Response, ref: RegistryReference, scope: String) async throws {
        let credentials = configuration.auth.credentials(for: ref.host)
        guard let header = response.header("www-authenticate"), let challenge = AuthChallenge.parse(header) else {
            throw RegistryError(.authenticationRequired, "registry \(ref.host) answered 401 without a WWW-Authenticate challenge for \(ref)")
        }
        switch challenge.scheme {
        case "basic":
            guard let credentials else { throw missingCredentials(ref) }
            authCache.withLock { $0[ref.host] = .basic(credentials.basicHeader) }
        case "bearer":
            guard let realm = challenge.parameters["realm"], var components = URLComponents(string: realm) else {
                throw RegistryError(.protocolError, "registry \(ref.host) sent a Bearer challenge without a usable realm")
            }
            var items = components.queryItems ?? []
            if let service = challenge.parameters["service"] { items.append(URLQueryItem(name: "service", value: service)) }
            items.append(URLQueryItem(name: "scope", value: challenge.parameters["scope"] ?? scope))
            components.queryItems = items
            guard let tokenURL = components.url else {
                throw RegistryError(.protocolError, "registry \(ref.host) named an invalid token realm \(realm)")
            }
            var request = URLRequest(url: tokenURL)
            if let credentials { request.setValue(credentials.basicHeader, forHTTPHeaderField: "Authorization") }
            let tokenResponse: HTTPTransport.Response
            do {
                requestCount.add(1, ordering: .relaxed)
                tokenResponse = try await transport.send(request, sink: nil)
            } catch {
                throw RegistryError(.transport, "token service \(tokenURL.host ?? realm) of registry \(ref.host) is unreachable: \(Self.describe(error))")
            }
            if tokenResponse.status == 401 || tokenResponse.status == 403 {
                if let credentials {
                    throw RegistryError(.authenticationFailed, "registry \(ref.host): its token service rejected the username/password for user \(credentials.username) (HTTP \(tokenResponse.status)); wrong password? fix the entry for \(ref.host) in \(configuration.auth.path ?? "the auth file")")
                }
                throw missingCredentials(ref)
            }
            guard tokenResponse.status == 200 else {
                throw RegistryError(.protocolError, "token service of registry \(ref.host) answered HTTP \(tokenResponse.status)")
            }
            struct TokenBody: Decodable {
                var token: String?
                var access_token: String?
                var expires_in: Double?
            }
            guard let body = try? JSONDecoder().decode(TokenBody.self, from: Data(tokenResponse.body)),
                  let token = body.token ?? body.access_token, !token.isEmpty else {
                throw RegistryError(.protocolError, "token service of registry \(ref.host) returned no token")
            }
            // Expire a little early so a token never lapses mid-request; 60 s is the spec's default.
            let lifetime = max(1, (body.expires_in ?? 60) - 10)
            authCache.withLock { $0[ref.host + " " + scope] = .bearer(token, expires: MonotonicClock.now + lifetime) }
        default:
            throw RegistryError(.authenticationRequired, "registry \(ref.host) asks for \(challenge.scheme) authentication, which Kiln does not support (Basic and Bearer are)")
        }
    }

    private func missingCredentials(_ ref: RegistryReference) -> RegistryError {
        let source = configuration.auth.path.map { "in \($0)" } ?? "(no auth file found: --auth-file, REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json)"
        return RegistryError(.authenticationRequired, "registry \(ref.host) requires authentication for \(ref.repository) and there are no credentials for \(ref.host) \(source); add them with --auth-file")
    }

    private func rejected(ref: RegistryReference, response: HTTPTransport.Response) -> RegistryError {
        guard let credentials = configuration.auth.credentials(for: ref.host) else { return missingCredentials(ref) }
        let challenge = response.header("www-authenticate").flatMap(AuthChallenge.parse)
        if challenge?.parameters["error"] == "insufficient_scope" {
            return RegistryError(.accessDenied, "registry \(ref.host): user \(credentials.username) may not access \(ref.repository) (insufficient_scope)")
        }
        return RegistryError(.authenticationFailed, "registry \(ref.host) rejected the username/password for user \(credentials.username) (401 Unauthorized); wrong password? fix the entry for \(ref.host) in \(configuration.auth.path ?? "the auth file")")
    }

    private func check(_ response: HTTPTransport.Response, ok: Set<Int>, what: String) throws {
        if ok.contains(response.status) { return }
        let detail = Self.registryErrorDetail(response.body)
        switch response.status {
        case 404:
            throw RegistryError(.notFound, "\(what): not found (404\(detail))")
        case 403:
            throw RegistryError(.accessDenied, "\(what): access denied (403\(detail))")
        default:
            throw RegistryError(.protocolError, "\(what): registry answered HTTP \(response.status)\(detail)")
        }
    }

    static func registryErrorDetail(_ body: [UInt8]) -> String {
        struct Errors: Decodable {
            struct E: Decodable {
                var code: String?
                var message: String?
            }
            var errors: [E]?
        }
        guard let e = try? JSONDecoder().decode(Errors.self, from: Data(body)), let first = e.errors?.first else { return "" }
        return " \(first.code ?? ""): \(first.message ?? "")"
    }

    /// Statuses below 500 that are worth retrying (timeouts and rate limits); every other 4xx is final.
    static let retriedStatuses: Set<Int> = [408, 429]

    /// Failures that another attempt cannot fix: redirect loops, TLS and certificate trouble, bad URLs.
    static func isPermanent(_ error: any Error) -> Bool {
        if let e = error as? URLError {
            switch e.code {
            case .httpTooManyRedirects, .redirectToNonExistentLocation, .badURL, .unsupportedURL, .secureConnectionFailed,
                .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid,
                .serverCertificateHasUnknownRoot, .clientCertificateRejected, .clientCertificateRequired:
                return true
            default:
                break
            }
        }
        let text = describe(error).lowercased()
        return ["redirect", "ssl", "tls", "certificate", "wrong version number"].contains { text.contains($0) }
    }

    private func transportError(_ error: any Error, ref: RegistryReference, url: URL, failures: Int) -> RegistryError {
        let permanent = Self.isPermanent(error)
        var message = permanent
            ? "registry \(ref.host) cannot be used: \(Self.describe(error)) (not retried: another attempt cannot fix it)"
            : "registry \(ref.host) is unreachable after \(failures) attempts: \(Self.describe(error))"
        if url.scheme == "https" && !permanent {
            message += "; if it serves plain HTTP, pass --insecure-registry \(ref.host)"
        }
        return RegistryError(.transport, message)
    }

    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        return ns.localizedDescription.isEmpty ? "\(error)" : ns.localizedDescription
    }
}

/// Streams a blob body into a partial file while hashing it; refuses bytes past the limit;
/// reports the bytes held (resumed ones included) to `progress` as each chunk lands.
final class FileSink: HTTPTransport.BodySink, Sendable {
    private struct State {
        var handle: FileHandle?
        var hasher = SHA256()
        var written: Int64 = 0
        var accepted = false
    }

    let path: String
    let limit: Int64
    let progress: ProgressTracker?
    private let state: Mutex<State>

    /// Bytes in the partial file so far.
    var written: Int64 { state.withLock { $0.written } }
    /// True once a response body was accepted into the file.
    var accepted: Bool { state.withLock { $0.accepted } }

    /// The SHA-256 of the bytes in the file so far, hex.
    func digestHex() -> String {
        state.withLock { s in
            var hasher = s.hasher
            return hasher.finalizeHex()
        }
    }

    /// Opens (or creates) the partial file and hashes what it already holds.
    init(path: String, limit: Int64, progress: ProgressTracker? = nil) throws {
        self.path = path
        self.limit = limit
        self.progress = progress
        let fm = FileManager.default
        try AtomicFile.createDirectory((path as NSString).deletingLastPathComponent)
        if !fm.fileExists(atPath: path) { _ = fm.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forUpdatingAtPath: path) else {
            throw RegistryError(.io, "cannot open \(path) for writing")
        }
        var initial = State(handle: handle)
        do {
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                initial.hasher.update(chunk)
                initial.written += Int64(chunk.count)
            }
            if initial.written > limit {
                try handle.truncate(atOffset: 0)
                initial.hasher = SHA256()
                initial.written = 0
            }
        } catch {
            throw RegistryError(.io, "cannot read partial download \(path): \(error)")
        }
        state = Mutex(initial)
        progress?.update(done: initial.written, restartRate: true)
    }

    func accept(status: Int, headers: [String: String]) -> Bool {
        let (accepted, restarted) = state.withLock { s -> (Bool, Bool) in
            guard let handle = s.handle else { return (false, false) }
            if status == 206 {
                // bytes START-END/TOTAL must start where the file ends, else start over.
                let start = headers["content-range"].flatMap { $0.split(separator: " ").last?.split(separator: "-").first }.flatMap { Int64($0) }
                if start == s.written {
                    s.accepted = true
                    return (true, false)
                }
            }
            if status == 200 || status == 206 {
                if status == 206 { return (false, false) }
                try? handle.truncate(atOffset: 0)
                s.hasher = SHA256()
                s.written = 0
                s.accepted = true
                return (true, true)
            }
            return (false, false)
        }
        if restarted { progress?.update(done: 0) }
        return accepted
    }

    func write(_ chunk: Data) throws {
        let path = self.path, limit = self.limit
        let held = try state.withLock { s -> Int64 in
            guard s.written + Int64(chunk.count) <= limit else {
                throw RegistryError(.sizeMismatch, "blob download to \(path) exceeds the \(limit) bytes its descriptor declares; discarded")
            }
            do {
                try s.handle?.write(contentsOf: chunk)
            } catch {
                let code = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError)?.code ?? (error as NSError).code
                if code == Int(ENOSPC) || code == Int(EDQUOT) || "\(error)".contains("space") {
                    try? s.handle?.close()
                    s.handle = nil
                    try? FileManager.default.removeItem(atPath: path)
                    let dir = (path as NSString).deletingLastPathComponent
                    throw RegistryError(.diskFull, "disk full: cannot write \(path); the partial download was deleted to give the space back. Free space on that filesystem (`df -h \(dir)`, `kiln cache gc`) or pass --store DIR on a larger one")
                }
                throw RegistryError(.io, "cannot write \(path): \(error)")
            }
            s.hasher.update(chunk)
            s.written += Int64(chunk.count)
            return s.written
        }
        progress?.update(done: held)
    }

    /// Flushes and closes the file.
    func finish() throws {
        guard let h = state.withLock({ s -> FileHandle? in defer { s.handle = nil }; return s.handle }) else { return }
        try h.synchronize()
        try h.close()
    }
}
