import Foundation
import KilnAgent
import KilnCore
import KilnInference
import KilnTensorRT

/// `kiln build-engine`: the agent's isolated child. Builds one engine (TensorRT, or any other
/// backend's) or runs a rollout candidate's first inferences in this process, under the memory
/// limit and cgroup it is given, and reports progress and the result as JSON lines on stdout;
/// the agent runs it with a timeout and survives whatever happens to it. Internal: users run
/// `kiln run`/`kiln demo`, which call it when a build or a trial is needed.
enum BuildEngineCommand: Command {
    static let name = "build-engine"
    static let summary = "(internal) build an engine or try a candidate in an isolated child process for the agent"
    static let help = """
        Usage: kiln build-engine --request FILE --workspace BYTES [--memory-limit BYTES [--no-address-limit]] [--cgroup DIR]
               kiln build-engine --trial FILE [--memory-limit BYTES] [--cgroup DIR]

        Internal: the agent's isolated child process. It first joins cgroup DIR and limits its
        own memory (RLIMIT_DATA = BYTES, RLIMIT_AS = BYTES + 4 GiB), so whatever the model does
        ends this process, never the agent. --no-address-limit leaves RLIMIT_AS alone (TensorRT
        builds: CUDA reserves the GPU's virtual address range at initialisation).

        --request: FILE is a JSON EngineBuildRequest (model path, engine path, build options,
        backend; method auto|bridge|trtexec for TensorRT). TensorRT builds with the bridge, or
        with trtexec when Kiln was built without TensorRT headers, using a BYTES workspace; other
        backends (`"backend": "reference"`) build in this process. The engine is written
        atomically; JSON lines on stdout:
          {"event":"progress","phase":…,"step":…,"steps":…}
          {"event":"log","severity":N,"message":…}
          {"event":"result","status":"ok"|"outOfMemory"|"failed"|…,"message":…}

        --trial: FILE is a JSON EngineTrial: a rollout candidate's first inferences (golden data
        and warm-up, or timed runs) on its cached engine; the result goes to the file it names.

        \(Kiln.exitCodes)
        """

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        let requestPath = try arguments.option("--request")
        let trialPath = try arguments.option("--trial")
        let workspace = try arguments.option("--workspace", "a workspace size in bytes (≥ 1048576)") { Int($0).flatMap { $0 >= 1 << 20 ? $0 : nil } }
        let memory = try arguments.option(ChildLimits.memoryFlag, "a byte count like 512M") { ByteCountText.bytes($0).flatMap { $0 > 0 ? $0 : nil } }
        let cgroup = try arguments.option(ChildLimits.cgroupFlag)
        let addressSpace = !arguments.flag(ChildLimits.noAddressLimitFlag)
        try arguments.finish()
        // Before any untrusted input is read.
        try ChildLimits.applyToSelf(memoryBytes: memory, cgroup: cgroup, addressSpace: addressSpace)
        if let trialPath {
            let trial: EngineTrial = try decode(trialPath, "a trial request")
            let backend = try BackendCatalog.standard(engineBuildChild: .kiln).select(trial.backend)
            return ExitCode(rawValue: trial.runInChild(backend: backend)) ?? .runtimeFailure
        }
        guard let requestPath else {
            throw UsageError("kiln build-engine: --request FILE or --trial FILE is required; see `kiln help build-engine`")
        }
        let request: EngineBuildRequest = try decode(requestPath, "a build request")
        if let name = request.backend, name != "tensorrt" {
            let backend = try BackendCatalog.standard(engineBuildChild: .kiln).select(name)
            return ExitCode(rawValue: IsolatedBackend.buildInChild(request, backend: backend)) ?? .runtimeFailure
        }
        guard let workspace else {
            throw UsageError("kiln build-engine: --workspace BYTES is required (at least 1048576)")
        }
        let code = EngineBuildChild.run(request: request, workspaceBytes: workspace)
        return ExitCode(rawValue: code) ?? .runtimeFailure
    }

    /// The JSON file at `path` decoded, or a usage error naming it.
    static func decode<T: Decodable>(_ path: String, _ what: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError("kiln build-engine: cannot read the request file \(path)")
        }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw UsageError("kiln build-engine: \(path) is not \(what): \(error)")
        }
    }
}

extension EngineBuildChildCommand {
    /// This `kiln` executable running `kiln build-engine`: the isolated builder's child in Kiln.
    static var kiln: EngineBuildChildCommand {
        EngineBuildChildCommand(executable: IsolatedBuilder.currentExecutable(), arguments: [BuildEngineCommand.name])
    }
}
