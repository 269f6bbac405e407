import Foundation
import KilnCore

/// Runs TensorRT builds in a child process (`EngineBuildChildCommand`; `kiln build-engine` in Kiln)
/// so that whatever the build does (exhaust memory and get OOM-killed, crash, hang) the agent
/// survives. Memory failures are retried with half the workspace down to the floor, "no
/// implementation" failures with double the workspace up to the cap (`AdaptiveWorkspace`).
///
/// The child gets `CUDA_MODULE_LOADING=LAZY` (CUDA loads kernels on first use: hundreds of MB less
/// on Jetson), a timeout after which its whole process group (trtexec with it) is SIGKILLed, with
/// `memoryLimitBytes` its `RLIMIT_DATA` and a cgroup v2 `memory.max` where one can be made but no
/// `RLIMIT_AS` (CUDA's address-space reservations; see `ChildLimits`), and reports progress and
/// its result as JSON lines on stdout (`EngineBuildEvent`). Blocking: call from a dedicated thread.
public struct IsolatedBuilder: Sendable {
    /// The child process: executable and arguments before `--request FILE --workspace BYTES`.
    public var child: EngineBuildChildCommand
    /// Seconds one attempt may take.
    public var timeoutSeconds: Double
    /// The workspace policy.
    public var workspace: AdaptiveWorkspace
    /// Extra environment for the child (on top of the agent's own and `CUDA_MODULE_LOADING=LAZY`).
    public var environment: [String: String]
    /// Host memory one attempt may take (`--build-memory-limit`); nil: unbounded.
    public var memoryLimitBytes: Int?

    /// The bounds of each attempt's child: the memory limit without an address-space limit, the timeout.
    public var limits: ChildLimits {
        ChildLimits(memoryBytes: memoryLimitBytes, timeoutSeconds: timeoutSeconds, limitsAddressSpace: false)
    }

    /// One build attempt and how it ended.
    public struct Attempt: Sendable, Codable, Equatable {
        /// The workspace tried.
        public var workspaceBytes: Int
        /// `ok`, or what went wrong (`killed by SIGKILL …`, the TensorRT message).
        public var outcome: String
        /// Seconds the attempt took.
        public var seconds: Double
    }

    /// A successful isolated build.
    public struct Result: Sendable {
        /// The serialized engine.
        public var plan: [UInt8]
        /// The workspace the successful attempt used: store it in the cache metadata.
        public var workspaceBytes: Int
        /// Every attempt, the last one successful.
        public var attempts: [Attempt]
        /// Total seconds over all attempts.
        public var seconds: Double
        /// The TensorRT version the child reported, when it did.
        public var tensorrtVersion: String?
        /// `bridge` or `trtexec`.
        public var method: String?
    }

    /// A builder running `child --request FILE --workspace BYTES`.
    public init(child: EngineBuildChildCommand, timeoutSeconds: Double = 1800, workspace: AdaptiveWorkspace = AdaptiveWorkspace(),
                environment: [String: String] = [:], memoryLimitBytes: Int? = nil) {
        self.child = child
        self.timeoutSeconds = timeoutSeconds
        self.workspace = workspace
        self.environment = environment
        self.memoryLimitBytes = memoryLimitBytes
    }

    /// The path of the running executable (`/proc/self/exe`).
    public static func currentExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Builds `request`, retrying memory failures with half the workspace; `freeMemoryBytes` caps the
    /// first attempt at half of it. `onEvent` sees progress and log events as they arrive.
    public func build(_ request: EngineBuildRequest, freeMemoryBytes: Int? = nil,
                      onEvent: (EngineBuildEvent) -> Void = { _ in }) throws -> Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-build-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let requestURL = dir.appendingPathComponent("request.json")
        try JSONEncoder().encode(request).write(to: requestURL)
        var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        env["CUDA_MODULE_LOADING"] = "LAZY"
        let policy = workspace.honouring(request.options)
        var workspaceBytes = policy.initialWorkspace(requested: request.options.workspaceBytes, freeBytes: freeMemoryBytes)
        let initialBytes = workspaceBytes
        var tried: Set<Int> = []
        var attempts: [Attempt] = []
        let started = MonotonicClock.now
        while true {
            try? FileManager.default.removeItem(atPath: request.enginePath)
            let attemptStart = MonotonicClock.now
            var output: [String] = []
            var errorLines: [String] = []
            var result: EngineBuildEvent?
            tried.insert(workspaceBytes)
            let cgroup = memoryLimitBytes.flatMap { MemoryCgroup.make(memoryBytes: $0) }
            defer { cgroup?.remove() }
            let arguments = child.arguments + ["--request", requestURL.path, "--workspace", String(workspaceBytes)] + limits.arguments(cgroup: cgroup)
            let exit = try Subprocess.run(child.executable, arguments, environment: env, processGroup: .own, timeout: timeoutSeconds) { line in
                if let event = EngineBuildEvent.parse(line) {
                    if event.event == "result" { result = event } else { onEvent(event) }
                    if let m = event.message {
                        output.append(m)
                        // Only errors classify a failure: TensorRT's memory warnings come with successful builds.
                        if event.event == "result" || (event.severity ?? 4) <= 1 { errorLines.append(m) }
                    }
                } else {
                    output.append(line)
                    if !AdaptiveWorkspace.isWarningOrInfo(line) { errorLines.append(line) }
                    onEvent(.log(severity: 3, line))
                }
                if output.count > 2000 { output.removeFirst(1000) }
                if errorLines.count > 400 { errorLines.removeFirst(200) }
            }
            let seconds = MonotonicClock.now - attemptStart
            if exit == .exited(0), let result, result.status == "ok" {
                guard let plan = FileManager.default.contents(atPath: request.enginePath), !plan.isEmpty else {
                    throw TensorRTError(.buildFailed, "the isolated builder reported success but wrote no engine at \(request.enginePath)")
                }
                attempts.append(Attempt(workspaceBytes: workspaceBytes, outcome: "ok", seconds: seconds))
                return Result(plan: [UInt8](plan), workspaceBytes: result.workspaceBytes ?? workspaceBytes, attempts: attempts,
                              seconds: MonotonicClock.now - started, tensorrtVersion: result.tensorrt, method: result.method)
            }
            if case .timedOut = exit {
                attempts.append(Attempt(workspaceBytes: workspaceBytes, outcome: exit.description, seconds: seconds))
                throw TensorRTError(.cancelled, "engine build for \(request.modelPath) \(exit.description) (timeout \(Int(timeoutSeconds)) s); \(Self.summary(attempts))")
            }
            let reportedKind = result?.status.flatMap(TensorRTError.Kind.init(rawValue:))
            switch AdaptiveWorkspace.classify(exit: exit, errorLines: errorLines, reportedKind: reportedKind) {
            case .memory(let reason):
                attempts.append(Attempt(workspaceBytes: workspaceBytes, outcome: reason, seconds: seconds))
                guard let next = policy.next(after: workspaceBytes), !tried.contains(next) else {
                    let limit = memoryLimitBytes.map { " under a \(ByteCountText.text($0)) memory limit (raise --build-memory-limit if the device has more)" } ?? ""
                    throw TensorRTError(.outOfMemory, "engine build for \(request.modelPath) ran out of memory at every workspace down to the \(policy.floorBytes >> 20) MiB floor\(limit); \(Self.summary(attempts)). Free memory (stop other GPU work) or use a smaller model or shapes")
                }
                Log.warning("engine build: \(reason) with a \(workspaceBytes >> 20) MiB workspace; retrying with \(next >> 20) MiB")
                onEvent(.log(severity: 2, "retrying with workspace \(next >> 20) MiB after: \(reason)"))
                workspaceBytes = next
                continue
            case .noImplementation(let reason):
                attempts.append(Attempt(workspaceBytes: workspaceBytes, outcome: reason, seconds: seconds))
                guard let next = policy.larger(after: workspaceBytes, initial: initialBytes, freeBytes: freeMemoryBytes), !tried.contains(next) else {
                    throw TensorRTError(.noImplementation, "engine build for \(request.modelPath): TensorRT found no implementation for a layer even with a \(workspaceBytes >> 20) MiB workspace (the most the profile's cap and free memory allow); \(Self.summary(attempts)). Free memory, raise the profile's workspaceCapMiB, or change the model's unsupported layer")
                }
                Log.warning("engine build: \(reason) with a \(workspaceBytes >> 20) MiB workspace; retrying with a larger \(next >> 20) MiB")
                onEvent(.log(severity: 2, "retrying with a larger workspace \(next >> 20) MiB after: \(reason)"))
                workspaceBytes = next
                continue
            case nil:
                break
            }
            let message = result?.message ?? output.suffix(20).joined(separator: "\n")
            attempts.append(Attempt(workspaceBytes: workspaceBytes, outcome: exit.description, seconds: seconds))
            throw TensorRTError(reportedKind ?? .buildFailed, "engine build for \(request.modelPath) failed (\(exit.description)): \(message)")
        }
    }

    /// One line listing every attempt's workspace and outcome.
    static func summary(_ attempts: [Attempt]) -> String {
        "attempts: " + attempts.map { "\($0.workspaceBytes >> 20) MiB: \($0.outcome)" }.joined(separator: "; ")
    }
}
