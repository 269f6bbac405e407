import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// One HTTP exchange over URLSession (libcurl underneath on Linux), with bodies optionally
/// streamed to a sink instead of buffered.
///
/// Callbacks run on the session's own serial delegate queue, so a sink may do blocking file
/// writes without touching the cooperative pool. Redirects are followed; the `Authorization`
/// header is dropped when a redirect leaves the original host (blob storage must not see
/// registry credentials), which also makes pre-signed storage URLs work.
// unchecked: `session` is assigned once in init, before any use; the exchanges live in a Mutex.
public final class HTTPTransport: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    /// A response: status, lower-cased header names, and the buffered body (empty when streamed).
    public struct Response: Sendable {
        /// The HTTP status code.
        public var status: Int
        /// Headers with lower-cased names.
        public var headers: [String: String]
        /// The buffered body; empty when a sink consumed it.
        public var body: [UInt8]
        /// The final URL (after redirects).
        public var url: URL?

        /// A header by lower-case name.
        public func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    /// Receives a streamed body: called with the status and headers first, then each chunk.
    /// Returning false from `accept` buffers the body instead (for error responses).
    public protocol BodySink: AnyObject, Sendable {
        /// Decides, from the status and headers, whether to stream this body into the sink.
        func accept(status: Int, headers: [String: String]) -> Bool
        /// Consumes a chunk; throwing cancels the transfer with that error.
        func write(_ chunk: Data) throws
    }

    // unchecked: created by `send`, then touched only on the session's serial delegate queue.
    private final class Exchange: @unchecked Sendable {
        var continuation: CheckedContinuation<Response, any Error>?
        var sink: (any BodySink)?
        var streaming = false
        var status = 0
        var headers: [String: String] = [:]
        var body: [UInt8] = []
        var sinkError: (any Error)?
        var url: URL?
        var challenged = false
        let originalHost: String?
        init(sink: (any BodySink)?, originalHost: String?) {
            self.sink = sink
            self.originalHost = originalHost
        }
        /// Takes the status, final URL and headers (names lowercased) of `response`.
        func record(_ response: HTTPURLResponse) {
            status = response.statusCode
            url = response.url
            var headers: [String: String] = [:]
            for (k, v) in response.allHeaderFields {
                if let k = k as? String, let v = v as? String { headers[k.lowercased()] = v }
            }
            self.headers = headers
        }
    }

    private let exchanges = Mutex<[Int: Exchange]>([:])
    private let queue: OperationQueue
    private var session: URLSession!

    /// Creates a transport; `idleTimeout` bounds silence on a connection, not a whole transfer.
    public init(idleTimeout: TimeInterval = 30) {
        queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        queue.name = "kiln.registry.http"
        super.init()
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = idleTimeout
        config.timeoutIntervalForResource = 24 * 3600
        config.urlCredentialStorage = nil
        config.httpCookieStorage = nil
        config.urlCache = nil
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.httpAdditionalHeaders = ["User-Agent": "kiln"]
        session = URLSession(configuration: config, delegate: self, delegateQueue: queue)
    }

    deinit { session.invalidateAndCancel() }

    /// Sends `request`; streams a successful body into `sink` if given; returns when complete.
    public func send(_ request: URLRequest, sink: (any BodySink)? = nil) async throws -> Response {
        let task = session.dataTask(with: request)
        let exchange = Exchange(sink: sink, originalHost: request.url?.host)
        exchanges.withLock { $0[task.taskIdentifier] = exchange }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Response, any Error>) in
                queue.addOperation {
                    exchange.continuation = c
                    task.resume()
                }
            }
        } onCancel: {
            task.cancel()
        }
    }

    private func exchange(_ task: URLSessionTask) -> Exchange? {
        exchanges.withLock { $0[task.taskIdentifier] }
    }

    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                           completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        guard let ex = exchange(dataTask), let http = response as? HTTPURLResponse else {
            completionHandler(.allow)
            return
        }
        ex.record(http)
        ex.streaming = ex.sink?.accept(status: ex.status, headers: ex.headers) ?? false
        completionHandler(.allow)
    }

    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let ex = exchange(dataTask), ex.sinkError == nil else { return }
        if ex.streaming, let sink = ex.sink {
            do { try sink.write(data) } catch {
                ex.sinkError = error
                dataTask.cancel()
            }
        } else {
            ex.body.append(contentsOf: data)
        }
    }

    public func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                           newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        var next = request
        if let ex = exchange(task), next.url?.host != ex.originalHost {
            next.setValue(nil, forHTTPHeaderField: "Authorization")
        }
        completionHandler(next)
    }

    public func urlSession(_ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
                           completionHandler: @escaping (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        // Kiln answers 401s itself (Basic and Bearer). On Linux, URLSession turns a Basic 401
        // into a challenge and, with default handling and no stored credential, re-sends the
        // request forever; so keep the 401 response and cancel, and report the 401 on completion.
        if let ex = exchange(task), let failure = challenge.failureResponse as? HTTPURLResponse {
            ex.record(failure)
            ex.challenged = true
        }
        completionHandler(.cancelAuthenticationChallenge, nil)
    }

    public func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let ex = exchanges.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
        let c = ex.continuation
        ex.continuation = nil
        if ex.challenged {
            c?.resume(returning: Response(status: ex.status, headers: ex.headers, body: [], url: ex.url))
        } else if let sinkError = ex.sinkError {
            c?.resume(throwing: sinkError)
        } else if let error {
            c?.resume(throwing: error)
        } else {
            c?.resume(returning: Response(status: ex.status, headers: ex.headers, body: ex.body, url: ex.url))
        }
    }
}
