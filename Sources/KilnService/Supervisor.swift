import KilnCore

/// Runs the agent's services together and ends them together.
///
/// The *primary* service (the frame loop) decides the agent's lifetime: when it returns, the
/// others are cancelled. When any service throws, everything is cancelled and that error is
/// rethrown; a background service that returns early is simply done. `shutdownGracefully()`
/// (SIGTERM) asks the primary to finish; the rest follows when it returns.
public struct Supervisor: Sendable {
    /// The service whose end ends the agent.
    public var primary: any Service
    /// Services that run alongside (telemetry, rollouts, watchdog).
    public var background: [any Service]

    /// Creates a supervisor.
    public init(primary: any Service, background: [any Service] = []) {
        self.primary = primary
        self.background = background
    }

    /// Asks the primary service to finish gracefully (the frame loop drains and returns); the
    /// background services are cancelled once it has.
    public func shutdownGracefully() {
        Log.info("shutting down \(primary.name) gracefully")
        primary.shutdownGracefully()
    }

    /// Runs every service until the primary finishes; rethrows the first failure.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await primary.run()
                return true
            }
            for service in background {
                group.addTask {
                    do {
                        try await service.run()
                    } catch is CancellationError {
                    } catch {
                        Log.error("\(service.name) failed: \(error)")
                        throw error
                    }
                    return false
                }
            }
            while let primaryDone = try await group.next() {
                if primaryDone {
                    group.cancelAll()
                    break
                }
            }
        }
    }
}
