import Foundation
import KilnCore
import KilnInference
import KilnTensorRT

/// `kiln build-engine`: the isolated builder's child. Builds one TensorRT engine in this process
/// and reports progress and the result as JSON lines on stdout; the agent runs it (with a
/// timeout, `CUDA_MODULE_LOADING=LAZY` and the adaptive workspace) and survives whatever happens
/// to it. Internal: users run `kiln run`/`kiln demo`, which call it when a build is needed.
enum BuildEngineCommand: Command {
    static let name = "build-engine"
    static let summary = "(internal) build one TensorRT engine in a child process for the agent"
    static let help = """
        Usage: kiln build-engine --request FILE --workspace BYTES

        Internal: the isolated builder's child process. FILE is a JSON EngineBuildRequest (model
        path, engine path, build options, method auto|bridge|trtexec). Builds with the TensorRT
        bridge, or with trtexec when Kiln was built without TensorRT headers, using a BYTES
        workspace, writes the engine atomically and prints JSON lines on stdout:
          {"event":"progress","phase":…,"step":…,"steps":…}
          {"event":"log","severity":N,"message":…}
          {"event":"result","status":"ok"|"outOfMemory"|…,"workspaceBytes":…,"tensorrt":…}

        \(Kiln.exitCodes)
        """

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        guard let requestPath = try arguments.option("--request") else {
            throw UsageError("kiln build-engine: --request FILE is required; see `kiln help build-engine`")
        }
        guard let workspace = try arguments.option("--workspace", "a workspace size in bytes (≥ 1048576)", { Int($0) }), workspace >= 1 << 20 else {
            throw UsageError("kiln build-engine: --workspace BYTES is required (at least 1048576)")
        }
        try arguments.finish()
        guard let data = FileManager.default.contents(atPath: requestPath) else {
            throw UsageError("kiln build-engine: cannot read the request file \(requestPath)")
        }
        let request: EngineBuildRequest
        do { request = try JSONDecoder().decode(EngineBuildRequest.self, from: data) } catch {
            throw UsageError("kiln build-engine: \(requestPath) is not a build request: \(error)")
        }
        let code = EngineBuildChild.run(request: request, workspaceBytes: workspace)
        return ExitCode(rawValue: code) ?? .runtimeFailure
    }
}

extension EngineBuildChildCommand {
    /// This `kiln` executable running `kiln build-engine`: the isolated builder's child in Kiln.
    static var kiln: EngineBuildChildCommand {
        EngineBuildChildCommand(executable: IsolatedBuilder.currentExecutable(), arguments: [BuildEngineCommand.name])
    }
}
