/// A long-running part of the agent: the frame loop, the telemetry server, the rollout poller.
///
/// `run()` returns when the service is done (or throws); it must return promptly when its task is
/// cancelled.
public protocol Service: Sendable {
    /// The name used in logs.
    var name: String { get }
    /// Runs until done or cancelled.
    func run() async throws
}

/// A service made from a closure.
public struct ClosureService: Service {
    public let name: String
    private let body: @Sendable () async throws -> Void

    /// Creates a service named `name` that runs `body`.
    public init(_ name: String, _ body: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.body = body
    }

    public func run() async throws { try await body() }
}
