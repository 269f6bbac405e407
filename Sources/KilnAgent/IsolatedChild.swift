import Foundation
import KilnCore
import KilnTensorRT

/// Runs one isolated child of the agent (`kiln build-engine`): a build or a candidate's first
/// inferences, under `ChildLimits` (rlimits the child sets on itself, a memory cgroup where one
/// can be made, a timeout that kills its process group), collecting its protocol events
/// (`EngineBuildEvent` lines) and the tail of everything else it printed (a Swift fatal error,
/// a sanitizer report, the kernel's view of the kill) for the error message.
///
/// Whatever the child does (abort, segfault, exhaust its memory, hang) the agent only sees an
/// exit status. Blocking: call from a dedicated thread.
public struct IsolatedChild: Sendable {
    /// The child program (`kiln build-engine`).
    public var command: EngineBuildChildCommand
    /// Its bounds.
    public var limits: ChildLimits

    /// How a child run ended.
    public struct Outcome: Sendable {
        /// The exit status, signal or timeout.
        public var exit: Subprocess.Exit
        /// The child's `result` event, when it got that far.
        public var result: EngineBuildEvent?
        /// The last lines it printed that were not protocol events.
        public var tail: [String]

        /// True when the child exited 0 and reported `ok`.
        public var succeeded: Bool { exit == .exited(0) && result?.status == "ok" }

        /// The failure as a typed error about `subject` (`engine build of MODEL`): the child's own
        /// error (exit 3 invalid model, else a runtime error), or, when it died, what killed it
        /// under which limits, with its last output and the fix.
        public func error(subject: String, limits: ChildLimits) -> any KilnError {
            if case .exited(let code) = exit, let message = result?.message {
                return code == ExitCode.invalidModel.rawValue ? InvalidModelError(message) as any KilnError : RuntimeError(message)
            }
            let output = tail.suffix(8).joined(separator: " | ")
            return InvalidModelError("\(subject) \(exit.isolatedDescription) in its isolated child under \(limits.description)" +
                                     (output.isEmpty ? "" : "; its last output: \(output)") +
                                     ". The agent and the model it serves are unaffected. If the model needs more memory, raise --build-memory-limit (build-memory-limit in kiln.conf); otherwise fix the model")
        }
    }

    /// Creates a runner of `command` under `limits`.
    public init(command: EngineBuildChildCommand, limits: ChildLimits) {
        self.command = command
        self.limits = limits
    }

    /// Runs the child with `arguments` after the command's own; `onEvent` sees its progress and
    /// log events as they arrive.
    public func run(_ arguments: [String], onEvent: (EngineBuildEvent) -> Void = { _ in }) throws -> Outcome {
        let cgroup = limits.memoryBytes.flatMap { MemoryCgroup.make(memoryBytes: $0) }
        defer { cgroup?.remove() }
        var result: EngineBuildEvent?
        var tail: [String] = []
        var backtrace = false
        let exit = try Subprocess.run(command.executable, command.arguments + arguments + limits.arguments(cgroup: cgroup),
                                      processGroup: .own, timeout: limits.timeoutSeconds) { line in
            if let event = EngineBuildEvent.parse(line) {
                if event.event == "result" { result = event } else { onEvent(event) }
            } else if line.hasPrefix("*** Program crashed") {
                tail.append(line)
            } else if line.hasPrefix("*** Signal") || backtrace {
                // Swift's backtrace: registers and frames, of no use in a message; the lines
                // before it ("Fatal error: failed to allocate …") say what happened.
                backtrace = true
            } else if !line.isEmpty {
                tail.append(String(line.prefix(500)))
                if tail.count > 40 { tail.removeFirst(20) }
            }
        }
        return Outcome(exit: exit, result: result, tail: tail)
    }
}

extension Subprocess.Exit {
    /// `crashed (killed by signal 6)`, `was killed by SIGKILL (…)`, `timed out …`, `exited with status 1`.
    var isolatedDescription: String {
        switch self {
        case .signaled(let signal) where signal == SIGKILL:
            "was killed by SIGKILL (out of memory: the kernel's OOM killer or the memory cgroup)"
        case .signaled(let signal):
            "crashed (killed by signal \(signal), \(String(cString: strsignal(signal))))"
        case .timedOut, .exited:
            description
        }
    }
}
