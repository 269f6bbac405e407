/// A long-running part of the agent: the frame loop, the telemetry server, the rollout poller.
///
/// `run()` returns when the service is done (or throws); it must return promptly when its task is
/// cancelled. `shutdownGracefully()` asks it to finish its work and return on its own (the frame
/// loop drains its queued frames); services without such an ending are simply cancelled.
public protocol Service: Sendable {
    /// The name used in logs.
    var name: String { get }
    /// Runs until done or cancelled.
    func run() async throws
    /// Asks `run()` to finish what it holds and return; callable from any thread, at any time
    /// (before `run()` starts, it makes `run()` return early).
    func shutdownGracefully()
}

extension Service {
    /// No graceful ending of its own: the supervisor cancels it.
    public func shutdownGracefully() {}
}

/// A service made from a closure, with an optional graceful-shutdown action.
public struct ClosureService: Service {
    public let name: String
    private let body: @Sendable () async throws -> Void
    private let onShutdown: (@Sendable () -> Void)?

    /// Creates a service named `name` that runs `body`; `onShutdown` is what
    /// `shutdownGracefully()` does (nothing when nil).
    public init(_ name: String, onShutdown: (@Sendable () -> Void)? = nil, _ body: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.body = body
        self.onShutdown = onShutdown
    }

    public func run() async throws { try await body() }

    public func shutdownGracefully() { onShutdown?() }
}
