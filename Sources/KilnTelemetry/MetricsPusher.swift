import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import KilnCore

/// Push mode: sends Kiln's metrics to a Prometheus Pushgateway at an interval, for devices
/// nobody can scrape (behind NAT, on cellular).
///
/// Each push is an HTTP PUT of the text exposition to `URL/metrics/job/JOB/instance/INSTANCE`,
/// replacing the whole group, so metrics that disappeared on the device disappear there too.
public struct MetricsPusher: Sendable {
    /// The Pushgateway's base URL (`http://gateway:9091`).
    public let gateway: URL
    /// The job label (`kiln`).
    public let job: String
    /// The instance label (the device's name or machine id).
    public let instance: String
    /// Seconds between pushes.
    public let interval: Double
    /// Produces the body of each push.
    public let exposition: @Sendable () -> String

    /// Creates a pusher of `metrics` to `gateway`; rejects non-HTTP URLs.
    public init(gateway: String, job: String = "kiln", instance: String, interval: Double = 15,
                exposition: @escaping @Sendable () -> String) throws {
        guard let url = URL(string: gateway), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw TelemetryError("--push-url \(gateway): expected http://HOST:PORT of a Prometheus Pushgateway", exitCode: .usage)
        }
        guard !instance.isEmpty, !job.isEmpty else {
            throw TelemetryError("push: job and instance must not be empty (got job \(job.debugDescription), instance \(instance.debugDescription))", exitCode: .usage)
        }
        guard interval > 0 else {
            throw TelemetryError("--push-interval \(interval): expected a positive number of seconds", exitCode: .usage)
        }
        self.gateway = url
        self.job = job
        self.instance = instance
        self.interval = interval
        self.exposition = exposition
    }

    /// The grouping-key URL pushes go to. Values are path-escaped; a value with a `/` uses the
    /// Pushgateway's `label@base64/` form (base64url), since the gateway splits on decoded slashes.
    public var groupURL: URL {
        func component(_ label: String, _ value: String) -> String {
            if value.contains("/") {
                let b64 = Data(value.utf8).base64EncodedString()
                    .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                return "\(label)@base64/\(b64)"
            }
            let escaped = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? value
            return "\(label)/\(escaped)"
        }
        var base = gateway.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        return URL(string: "\(base)/metrics/\(component("job", job))/\(component("instance", instance))")!
    }

    /// Pushes once (PUT); throws naming the URL and the gateway's answer on failure.
    public func push() async throws {
        var request = URLRequest(url: groupURL)
        request.httpMethod = "PUT"
        request.setValue("text/plain; version=0.0.4", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(exposition().utf8)
        request.timeoutInterval = max(5, min(interval, 30))
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw TelemetryError("push to \(groupURL.absoluteString) failed: \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            throw TelemetryError(
                "push to \(groupURL.absoluteString): HTTP \(status): \(String(decoding: data.prefix(300), as: UTF8.self))")
        }
    }

    /// Deletes this instance's group from the gateway (on a clean shutdown).
    public func delete() async throws {
        var request = URLRequest(url: groupURL)
        request.httpMethod = "DELETE"
        let (_, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else { throw TelemetryError("delete of \(groupURL.absoluteString): HTTP \(status)") }
    }

    /// Pushes every `interval` seconds until cancelled, then once more so the last numbers land;
    /// failures are logged and retried at the next interval, never fatal.
    ///
    /// Every push runs in a detached task (bounded by the request's timeout) and is awaited:
    /// cancelling this task while a request is in flight would run URLSession's cancellation
    /// handler, which in swift-corelibs-foundation can deadlock with the request's own
    /// completion (the task's status lock against the session's queue — it hung a test run).
    public func run() async throws {
        while !Task.isCancelled {
            await pushDetached(label: "")
            do { try await Task.sleep(for: .seconds(interval)) } catch { break }
        }
        await pushFinal()
    }

    /// One last push that survives the caller's cancellation (a shutdown's final numbers):
    /// URLSession aborts requests of a cancelled task, so it runs detached and is awaited.
    public func pushFinal() async {
        await pushDetached(label: "final ")
    }

    /// One push in a detached task, awaited; a failure is logged with `label` in front.
    private func pushDetached(label: String) async {
        let pusher = self
        await Task.detached {
            do { try await pusher.push() } catch { Log.warning("\(label)\(error)") }
        }.value
    }
}
