import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import KilnCore
import Synchronization

/// Where and how results are POSTed: `--results http[s]://HOST[:PORT]/PATH`.
public struct WebhookEndpoint: Sendable, Equatable, CustomStringConvertible {
    /// The URL results are POSTed to.
    public var url: URL
    /// Most results in one POST.
    public var maxBatch: Int
    /// Seconds a result may wait for others to fill its batch.
    public var maxDelay: Double
    /// Seconds one POST may take before it counts as failed.
    public var timeout: Double

    /// Parses an `http://` or `https://` URL; user info in the URL is refused (secrets in
    /// command lines end up in `ps` and logs).
    public init(parsing text: String, maxBatch: Int = 100, maxDelay: Double = 0.5, timeout: Double = 5) throws {
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), let host = url.host, !host.isEmpty else {
            throw PostprocessError("--results \(text): expected http://HOST[:PORT]/PATH or https://…, e.g. http://127.0.0.1:8080/kiln", exitCode: .usage)
        }
        guard url.user == nil, url.password == nil else {
            throw PostprocessError("--results \(text): credentials in the URL would show in `ps` and logs; put them behind a local proxy", exitCode: .usage)
        }
        self.url = url
        self.maxBatch = max(1, maxBatch)
        self.maxDelay = max(0, maxDelay)
        self.timeout = max(0.1, timeout)
    }

    /// The URL without its query (which may carry a token).
    public var description: String {
        var c = URLComponents(url: url, resolvingAgainstBaseURL: false)
        c?.query = nil
        return c?.string ?? url.absoluteString
    }
}

/// POSTs results to an HTTP endpoint in batches (a JSON array of result objects per request)
/// from its own thread, so a slow or dead receiver never stalls the loop.
///
/// Results wait in a bounded `PublishQueue` (oldest dropped and counted when full). A batch
/// goes out when `maxBatch` results are queued or the first has waited `maxDelay`. A failed
/// POST (no connection, timeout, 408, 429, 5xx) is retried with exponential backoff (0.1 s to
/// 5 s) while newer results keep queueing; any other 4xx drops the batch with one warning.
public final class WebhookPublisher: QueuedPublisher {
    /// The receiver.
    public let endpoint: WebhookEndpoint
    /// Encoded results waiting for the publisher thread.
    public let queue: PublishQueue<Data>
    private let capacity: Int
    private let posts = Mutex(0)

    /// Starts the publisher thread; at most `capacity` results wait.
    public init(endpoint: WebhookEndpoint, capacity: Int = 1024,
                onChange: (@Sendable (_ delivered: Int, _ dropped: Int) -> Void)? = nil) {
        self.endpoint = endpoint
        queue = PublishQueue(capacity: capacity, onChange: onChange)
        self.capacity = capacity
        queue.startPublisher(named: "kiln-webhook") { [self] in run() }
    }

    /// Requests that succeeded.
    public var postCount: Int { posts.withLock { $0 } }

    /// Queues one encoded result object; never blocks.
    public func enqueue(_ result: Data) { queue.push(result) }

    /// Sends what is queued for up to `grace` seconds, then stops.
    public func close(grace: Double = 3) { queue.close(grace: grace) }

    private func run() {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = endpoint.timeout
        configuration.timeoutIntervalForResource = endpoint.timeout
        configuration.httpMaximumConnectionsPerHost = 1
        let session = URLSession(configuration: configuration)
        defer { session.invalidateAndCancel() }
        var backoff = 0.1
        var pending: [Data] = []
        while true {
            if pending.isEmpty {
                let now = Date()
                pending = queue.batch(limit: endpoint.maxBatch, deadline: now.addingTimeInterval(3600),
                                      fillDeadline: now.addingTimeInterval(endpoint.maxDelay))
                if pending.isEmpty {
                    if queue.isClosing { return }
                    continue
                }
            }
            switch post(pending, session: session) {
            case .delivered:
                queue.delivered(pending.count)
                posts.withLock { $0 += 1 }
                pending = []
                backoff = 0.1
            case .refused(let why):
                report(why, "fix the receiver; later results are still sent")
                queue.discarded(pending.count)
                pending = []
            case .failed(let why):
                report(why, "results queue (at most \(capacity)) and are retried with backoff")
                if queue.isClosing {
                    queue.discarded(pending.count)
                    return
                }
                queue.pause(backoff)
                backoff = min(5, backoff * 2)
                // Results that waited through the outage go out with the newest, in order.
                let more = queue.batch(limit: max(0, endpoint.maxBatch - pending.count), deadline: Date())
                pending += more
            }
        }
    }

    private enum Outcome { case delivered, refused(String), failed(String) }

    private func post(_ batch: [Data], session: URLSession) -> Outcome {
        var body = Data("[".utf8)
        for (i, item) in batch.enumerated() {
            if i > 0 { body.append(0x2C) }
            body.append(item)
        }
        body.append(0x5D)
        var request = URLRequest(url: endpoint.url, timeoutInterval: endpoint.timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("kiln", forHTTPHeaderField: "User-Agent")
        request.httpBody = body
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Outcome>(.failed("no answer within \(endpoint.timeout) s"))
        let task = session.dataTask(with: request) { _, response, error in
            let result: Outcome
            if let error {
                result = .failed(error.localizedDescription)
            } else if let http = response as? HTTPURLResponse {
                switch http.statusCode {
                case 200..<300: result = .delivered
                case 408, 429, 500...: result = .failed("HTTP \(http.statusCode)")
                default: result = .refused("HTTP \(http.statusCode); the batch of \(batch.count) results is dropped")
                }
            } else {
                result = .failed("no HTTP response")
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + endpoint.timeout + 1) == .timedOut { task.cancel() }
        return outcome.withLock { $0 }
    }

    /// Logs a failure once per distinct message (an outage is not a log flood).
    private func report(_ why: String, _ action: String) {
        if queue.noteFailure(why) { Log.warning("results \(endpoint): \(why); \(action)") }
    }
}
