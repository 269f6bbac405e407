import Foundation

/// The workspace policy for on-device builds: start from what the profile asks for (capped by free
/// memory) and halve after every memory failure, down to a floor.
///
/// A memory failure is what TensorRT does on small boards: the kernel's OOM killer SIGKILLs the
/// builder, or TensorRT logs an allocation failure ("Error Code 2: OutOfMemory", "Requested amount
/// of GPU memory … could not be allocated", "Tactic Device request: 538MB Available: 166MB",
/// CUDA out of memory, std::bad_alloc) and fails the build.
public struct AdaptiveWorkspace: Sendable, Equatable {
    /// The smallest workspace a retry may use, in bytes.
    public var floorBytes: Int

    /// Creates a policy with a floor (default 32 MiB).
    public init(floorBytes: Int = 32 << 20) { self.floorBytes = floorBytes }

    /// The first workspace: the requested size, at most half the free memory, at least the floor.
    public func initialWorkspace(requested: Int, freeBytes: Int?) -> Int {
        var w = requested
        if let free = freeBytes, free > 0 { w = min(w, free / 2) }
        return max(floorBytes, w)
    }

    /// The workspace after a memory failure at `workspace`, or nil when the floor is reached.
    public func next(after workspace: Int) -> Int? {
        guard workspace > floorBytes else { return nil }
        return max(floorBytes, workspace / 2)
    }

    /// TensorRT's (and the OS's) documented memory-failure messages, matched case-insensitively.
    public static let memoryMessages = [
        "tactic device request", "outofmemory", "out of memory", "requested amount of gpu memory",
        "could not be allocated", "std::bad_alloc", "cuda_error_out_of_memory", "cudaerrormemoryallocation",
        "insufficient memory", "failed to allocate",
    ]

    /// Why a failed attempt counts as a memory failure, or nil when it does not.
    static func memoryFailure(exit: ChildProcess.Exit, output: [String], reportedOutOfMemory: Bool) -> String? {
        if case .signaled(9) = exit { return "killed by SIGKILL (out of memory: the kernel's OOM killer)" }
        if reportedOutOfMemory { return "TensorRT reported an allocation failure" }
        for line in output.reversed() {
            let lower = line.lowercased()
            if memoryMessages.contains(where: { lower.contains($0) }) { return "TensorRT: \(line.trimmingCharacters(in: .whitespaces))" }
        }
        return nil
    }
}
