import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc
import Synchronization

/// What the registry client needs from HTTP: one exchange, body optionally streamed to a sink.
public protocol HTTPExchanging: Sendable {
    /// Sends `request`; streams an accepted body into `sink`; returns when complete.
    func send(_ request: URLRequest, sink: (any HTTPTransport.BodySink)?) async throws -> HTTPTransport.Response
}

extension HTTPTransport: HTTPExchanging {}

/// HTTP through libcurl, loaded with `dlopen`, for what Linux's URLSession cannot do: trust an
/// extra CA bundle (`--ca-bundle`) on top of the system CAs.
///
/// Each exchange runs `curl_easy_perform` on its own thread. Redirects are followed here
/// (at most 5), dropping `Authorization` when the host changes, exactly as `HTTPTransport` does.
public final class CurlTransport: HTTPExchanging, Sendable {
    private typealias SetoptLong = @convention(c) (OpaquePointer?, Int32, Int) -> Int32
    private typealias SetoptPointer = @convention(c) (OpaquePointer?, Int32, UnsafeRawPointer?) -> Int32
    private typealias Getinfo = @convention(c) (OpaquePointer?, Int32, UnsafeMutableRawPointer?) -> Int32
    private typealias DataCallback = @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int
    private typealias ProgressCallback = @convention(c) (UnsafeMutableRawPointer?, Int64, Int64, Int64, Int64) -> Int32

    private struct API {
        let easyInit: @convention(c) () -> OpaquePointer?
        let setoptLong: SetoptLong
        let setoptPointer: SetoptPointer
        let perform: @convention(c) (OpaquePointer?) -> Int32
        let getinfo: Getinfo
        let cleanup: @convention(c) (OpaquePointer?) -> Void
        let slistAppend: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> OpaquePointer?
        let slistFree: @convention(c) (OpaquePointer?) -> Void
        let strerror: @convention(c) (Int32) -> UnsafePointer<CChar>?
    }

    private static let api: Result<API, RegistryError> = {
        guard let handle = dlopen("libcurl.so.4", RTLD_NOW) ?? dlopen("libcurl.so", RTLD_NOW) else {
            return .failure(RegistryError(.transport, "--ca-bundle needs libcurl (libcurl.so.4), which cannot be loaded: \(String(cString: dlerror()))"))
        }
        func sym<T>(_ name: String, _: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: T.self) }
        }
        guard let globalInit = sym("curl_global_init", (@convention(c) (Int) -> Int32).self),
              let easyInit = sym("curl_easy_init", (@convention(c) () -> OpaquePointer?).self),
              let setoptLong = sym("curl_easy_setopt", SetoptLong.self),
              let setoptPointer = sym("curl_easy_setopt", SetoptPointer.self),
              let perform = sym("curl_easy_perform", (@convention(c) (OpaquePointer?) -> Int32).self),
              let getinfo = sym("curl_easy_getinfo", Getinfo.self),
              let cleanup = sym("curl_easy_cleanup", (@convention(c) (OpaquePointer?) -> Void).self),
              let slistAppend = sym("curl_slist_append", (@convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> OpaquePointer?).self),
              let slistFree = sym("curl_slist_free_all", (@convention(c) (OpaquePointer?) -> Void).self),
              let strerror = sym("curl_easy_strerror", (@convention(c) (Int32) -> UnsafePointer<CChar>?).self) else {
            return .failure(RegistryError(.transport, "libcurl lacks the easy interface Kiln needs"))
        }
        _ = globalInit(3)  // CURL_GLOBAL_ALL
        return .success(API(easyInit: easyInit, setoptLong: setoptLong, setoptPointer: setoptPointer, perform: perform,
                            getinfo: getinfo, cleanup: cleanup, slistAppend: slistAppend, slistFree: slistFree, strerror: strerror))
    }()

    // curl option and info numbers (curl.h).
    private enum Opt {
        static let writeData: Int32 = 10001, url: Int32 = 10002, writeFunction: Int32 = 20011, httpHeader: Int32 = 10023
        static let headerData: Int32 = 10029, customRequest: Int32 = 10036, noBody: Int32 = 44, caInfo: Int32 = 10065
        static let caPath: Int32 = 10097, noSignal: Int32 = 99, connectTimeout: Int32 = 78, lowSpeedLimit: Int32 = 19
        static let lowSpeedTime: Int32 = 20, postFieldSizeLarge: Int32 = 30120, copyPostFields: Int32 = 10165
        static let noProgress: Int32 = 43, xferInfoFunction: Int32 = 20219, xferInfoData: Int32 = 10057
        static let headerFunction: Int32 = 20079
        static let responseCode: Int32 = 0x200000 + 2
    }

    /// One transfer's state, filled by libcurl's callbacks on the transfer's thread.
    private final class Exchange: Sendable {
        private struct Progress {
            var status = 0
            var headers: [String: String] = [:]
            var body: [UInt8] = []
            var decided = false
            var streaming = false
            var sinkError: (any Error)?
        }

        private let progress = Mutex(Progress())
        let sink: (any HTTPTransport.BodySink)?
        let cancelled = Atomic<Bool>(false)
        init(sink: (any HTTPTransport.BodySink)?) { self.sink = sink }

        /// The status of the last response head seen.
        var status: Int { progress.withLock { $0.status } }
        /// The headers of the last response head seen.
        var headers: [String: String] { progress.withLock { $0.headers } }
        /// The buffered body (empty when the sink took it).
        var body: [UInt8] { progress.withLock { $0.body } }
        /// What the sink threw, which stopped the transfer.
        var sinkError: (any Error)? { progress.withLock { $0.sinkError } }

        func header(_ line: String) {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            progress.withLock { p in
                if trimmed.hasPrefix("HTTP/") {
                    p.status = Int(trimmed.split(separator: " ").dropFirst().first ?? "") ?? 0
                    p.headers = [:]
                } else if let colon = trimmed.firstIndex(of: ":") {
                    p.headers[trimmed[..<colon].lowercased()] = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
        }

        func receive(_ data: Data) -> Bool {
            let sink = self.sink
            let streaming = progress.withLock { p -> Bool in
                if !p.decided {
                    p.decided = true
                    p.streaming = sink?.accept(status: p.status, headers: p.headers) ?? false
                }
                if !p.streaming { p.body.append(contentsOf: data) }
                return p.streaming
            }
            guard streaming, let sink else { return true }
            do { try sink.write(data) } catch {
                progress.withLock { $0.sinkError = error }
                return false
            }
            return true
        }
    }

    private static let writeCallback: DataCallback = { pointer, size, count, context in
        guard let pointer, let context else { return 0 }
        let exchange = Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
        let n = size * count
        return exchange.receive(Data(bytes: pointer, count: n)) ? n : 0
    }

    private static let headerCallback: DataCallback = { pointer, size, count, context in
        guard let pointer, let context else { return 0 }
        let exchange = Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
        let n = size * count
        exchange.header(String(decoding: UnsafeRawBufferPointer(start: pointer, count: n), as: UTF8.self))
        return n
    }

    private static let progressCallback: ProgressCallback = { context, _, _, _, _ in
        guard let context else { return 0 }
        return Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue().cancelled.load(ordering: .relaxed) ? 1 : 0
    }

    /// The extra CA bundle (PEM) trusted besides the system's CAs.
    public let caBundle: String
    /// Seconds a connection may stay below 1 byte/s before it is dropped.
    public let idleTimeout: Int

    /// Creates a transport trusting `caBundle` in addition to `/etc/ssl/certs`.
    public init(caBundle: String, idleTimeout: Double = 30) {
        self.caBundle = caBundle
        self.idleTimeout = max(1, Int(idleTimeout))
    }

    public func send(_ request: URLRequest, sink: (any HTTPTransport.BodySink)?) async throws -> HTTPTransport.Response {
        var current = request
        for _ in 0..<6 {
            let response = try await perform(current, sink: sink)
            guard [301, 302, 303, 307, 308].contains(response.status), let location = response.header("location"),
                  let base = current.url, let next = URL(string: location, relativeTo: base)?.absoluteURL else {
                return response
            }
            var redirected = URLRequest(url: next)
            redirected.httpMethod = response.status == 303 ? "GET" : current.httpMethod
            for (k, v) in current.allHTTPHeaderFields ?? [:] where !(k.lowercased() == "authorization" && next.host != base.host) {
                redirected.setValue(v, forHTTPHeaderField: k)
            }
            if redirected.httpMethod != "GET" && redirected.httpMethod != "HEAD" { redirected.httpBody = current.httpBody }
            current = redirected
        }
        throw RegistryError(.protocolError, "too many redirects from \(request.url?.absoluteString ?? "") (a redirect loop; not retried)")
    }

    private func perform(_ request: URLRequest, sink: (any HTTPTransport.BodySink)?) async throws -> HTTPTransport.Response {
        let api = try Self.api.get()
        let exchange = Exchange(sink: sink)
        let caBundle = self.caBundle, idleTimeout = self.idleTimeout
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<HTTPTransport.Response, any Error>) in
                let thread = Thread {
                    c.resume(with: Result { try Self.run(api, request, exchange, caBundle: caBundle, idleTimeout: idleTimeout) })
                }
                thread.name = "kiln-curl"
                thread.start()
            }
        } onCancel: {
            exchange.cancelled.store(true, ordering: .relaxed)
        }
    }

    private static func run(_ api: API, _ request: URLRequest, _ exchange: Exchange, caBundle: String,
                            idleTimeout: Int) throws -> HTTPTransport.Response {
        guard let curl = api.easyInit(), let url = request.url else {
            throw RegistryError(.transport, "libcurl could not start a request")
        }
        defer { api.cleanup(curl) }
        var headerList: OpaquePointer?
        defer { api.slistFree(headerList) }
        let context = Unmanaged.passUnretained(exchange).toOpaque()
        func str(_ option: Int32, _ value: String) { _ = value.withCString { api.setoptPointer(curl, option, $0) } }
        str(Opt.url, url.absoluteString)
        str(Opt.caInfo, caBundle)
        str(Opt.caPath, "/etc/ssl/certs")
        _ = api.setoptLong(curl, Opt.noSignal, 1)
        _ = api.setoptLong(curl, Opt.connectTimeout, idleTimeout)
        _ = api.setoptLong(curl, Opt.lowSpeedLimit, 1)
        _ = api.setoptLong(curl, Opt.lowSpeedTime, idleTimeout)
        _ = api.setoptPointer(curl, Opt.writeFunction, unsafeBitCast(writeCallback, to: UnsafeRawPointer.self))
        _ = api.setoptPointer(curl, Opt.writeData, context)
        _ = api.setoptPointer(curl, Opt.headerFunction, unsafeBitCast(headerCallback, to: UnsafeRawPointer.self))
        _ = api.setoptPointer(curl, Opt.headerData, context)
        _ = api.setoptLong(curl, Opt.noProgress, 0)
        _ = api.setoptPointer(curl, Opt.xferInfoFunction, unsafeBitCast(progressCallback, to: UnsafeRawPointer.self))
        _ = api.setoptPointer(curl, Opt.xferInfoData, context)
        let method = request.httpMethod ?? "GET"
        if method == "HEAD" {
            _ = api.setoptLong(curl, Opt.noBody, 1)
        } else if method != "GET" {
            str(Opt.customRequest, method)
        }
        if let body = request.httpBody ?? (method == "PUT" || method == "POST" || method == "PATCH" ? Data() : nil) {
            _ = api.setoptLong(curl, Opt.postFieldSizeLarge, body.count)
            _ = body.withUnsafeBytes { api.setoptPointer(curl, Opt.copyPostFields, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)) }
        }
        var fields = request.allHTTPHeaderFields ?? [:]
        fields["User-Agent"] = fields["User-Agent"] ?? "kiln"
        if request.httpBody != nil && fields["Content-Type"] == nil { fields["Content-Type"] = "application/octet-stream" }
        fields["Expect"] = ""
        for (k, v) in fields { headerList = "\(k): \(v)".withCString { api.slistAppend(headerList, $0) } }
        _ = api.setoptPointer(curl, Opt.httpHeader, UnsafeRawPointer(headerList))
        let code = api.perform(curl)
        if exchange.cancelled.load(ordering: .relaxed) { throw CancellationError() }
        if let error = exchange.sinkError { throw error }
        guard code == 0 else {
            let text = api.strerror(code).map { String(cString: $0) } ?? "error \(code)"
            throw URLError(.cannotLoadFromNetwork, userInfo: [NSLocalizedDescriptionKey: "libcurl: \(text) (\(url.host ?? ""))"])
        }
        var status = 0
        _ = api.getinfo(curl, Opt.responseCode, &status)
        return HTTPTransport.Response(status: status != 0 ? status : exchange.status, headers: exchange.headers, body: exchange.body, url: url)
    }
}
