import Foundation
import KilnCore

/// The workspace policy for on-device builds: start from what the profile asks for (capped by free
/// memory), halve after a memory failure down to a floor, and grow after "no implementation" up to
/// a cap.
///
/// A memory failure is what TensorRT does on small boards: the kernel's OOM killer SIGKILLs the
/// builder, or TensorRT logs an *error* about an allocation ("Error Code 2: OutOfMemory",
/// "Requested amount of GPU memory … could not be allocated", "Cuda Runtime (out of memory)",
/// std::bad_alloc). "Tactic Device request: 538MB Available: 166MB" and "Skipping tactic … due to
/// insufficient memory" are *warnings* of successful builds and never count. "Could not find any
/// implementation for node" (Error Code 10) means the workspace was too small for every tactic of
/// a layer: the retry grows the workspace instead (jetson-inference fixes it the same way).
public struct AdaptiveWorkspace: Sendable, Equatable {
    /// The smallest workspace a retry may use, in bytes.
    public var floorBytes: Int
    /// The largest workspace a retry may grow to, in bytes; nil: the first attempt's workspace.
    public var capBytes: Int?

    /// Creates a policy with a floor (default 32 MiB) and an optional cap.
    public init(floorBytes: Int = 32 << 20, capBytes: Int? = nil) {
        self.floorBytes = floorBytes
        self.capBytes = capBytes
    }

    /// This policy with the profile's floor and cap from `options` (`workspaceFloorBytes`,
    /// `workspaceCapBytes`), where they are set.
    public func honouring(_ options: BuildOptions) -> AdaptiveWorkspace {
        AdaptiveWorkspace(floorBytes: options.workspaceFloorBytes ?? floorBytes, capBytes: options.workspaceCapBytes ?? capBytes)
    }

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

    /// The workspace after "no implementation" at `workspace`: double, up to the cap (or the first
    /// attempt's workspace, `initial`) and half the free memory; nil when it cannot grow.
    public func larger(after workspace: Int, initial: Int, freeBytes: Int?) -> Int? {
        var limit = max(capBytes ?? initial, initial)
        if let free = freeBytes, free > 0 { limit = min(limit, free / 2) }
        let grown = min(limit, workspace * 2)
        return grown > workspace ? grown : nil
    }

    /// What a failed attempt says about the workspace.
    public enum Failure: Sendable, Equatable {
        /// Out of memory (with the reason): retry smaller.
        case memory(String)
        /// No tactic fit the workspace (with TensorRT's message): retry larger.
        case noImplementation(String)
    }

    /// TensorRT's (and the OS's) memory-failure messages, matched case-insensitively in error lines.
    public static let memoryMessages = [
        "outofmemory", "out of memory", "requested amount of gpu memory", "could not be allocated", "std::bad_alloc",
        "cuda_error_out_of_memory", "cudaerrormemoryallocation", "failed to allocate",
    ]

    /// TensorRT's message when no tactic of a layer fits the workspace (Error Code 10).
    public static let noImplementationMessage = "could not find any implementation"

    /// Classifies a failed attempt from how the child ended, the kind it reported, and its *error*
    /// lines (error-severity log events and output that is not TensorRT's own warning lines).
    static func classify(exit: Subprocess.Exit, errorLines: [String], reportedKind: TensorRTError.Kind?) -> Failure? {
        if case .signaled(9) = exit { return .memory("killed by SIGKILL (out of memory: the kernel's OOM killer)") }
        if reportedKind == .outOfMemory { return .memory("TensorRT reported an allocation failure") }
        for line in errorLines.reversed() {
            let lower = line.lowercased()
            if memoryMessages.contains(where: { lower.contains($0) }) { return .memory("TensorRT: \(line.trimmingCharacters(in: .whitespaces))") }
        }
        if reportedKind == .noImplementation { return .noImplementation("TensorRT found no implementation that fits the workspace") }
        if let line = errorLines.last(where: { $0.lowercased().contains(noImplementationMessage) }) {
            return .noImplementation("TensorRT: \(line.trimmingCharacters(in: .whitespaces))")
        }
        return nil
    }

    /// Whether an output line of TensorRT or trtexec is a warning or lower (`[W]`, `[I]`, `[V]`),
    /// which never classifies a failure.
    public static func isWarningOrInfo(_ line: String) -> Bool {
        ["[W]", "[I]", "[V]", "[D]"].contains { line.contains($0) }
    }
}
