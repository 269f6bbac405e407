import Foundation

/// Runs blocking work (engine builds, loads, file hashing) on a dedicated thread and awaits it,
/// so the cooperative thread pool is never blocked.
public enum BlockingWork {
    /// Runs `body` on a new thread named `name` and returns its result.
    public static func run<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try body() })
            }
            thread.name = name
            thread.stackSize = 16 << 20
            thread.start()
        }
    }
}
