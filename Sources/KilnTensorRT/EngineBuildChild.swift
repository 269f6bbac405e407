import Foundation
import Glibc
import KilnCore

/// The child side of the isolated builder (`kiln build-engine`): builds one request in this
/// process and reports progress, TensorRT's log and the result as JSON lines on stdout.
public enum EngineBuildChild {
    /// Builds `request` with `workspaceBytes`; returns the process exit code (0 on success).
    public static func run(request: EngineBuildRequest, workspaceBytes: Int) -> Int32 {
        let start = MonotonicClock.now
        do {
            var options = request.options
            options.workspaceBytes = workspaceBytes
            guard let onnx = FileManager.default.contents(atPath: request.modelPath) else {
                throw TensorRTError(.invalidArgument, "cannot read the model \(request.modelPath)")
            }
            let method: EngineBuildRequest.Method
            switch request.method {
            case .auto:
                if TensorRTLibrary.compiledWithHeaders {
                    method = .bridge
                } else if request.trtexecPath ?? TrtexecCommand.locate() != nil {
                    method = .trtexec
                } else {
                    throw TensorRTError(.unavailable, "TensorRT unavailable: Kiln was built without TensorRT headers and no trtexec was found (PATH or \(TrtexecCommand.jetpackPath)); install TensorRT (JetPack's libnvinfer-dev / tensorrt) or use --backend reference")
                }
            default:
                method = request.method
            }
            let version: TensorRTVersion
            if method == .bridge {
                let library = try TensorRTLibrary()
                version = library.version
                let config = try TensorRTBuildConfiguration(options: options, version: version)
                for note in config.ignored { emit(EngineBuildEvent(event: "log", severity: 2, message: "ignored: \(note)")) }
                let plan = try library.build(onnx: [UInt8](onnx), configuration: config,
                    log: { severity, message in
                        if severity <= 3 { emit(EngineBuildEvent(event: "log", severity: severity, message: message)) }
                    },
                    progress: { phase, step, steps in
                        emit(EngineBuildEvent(event: "progress", phase: phase, step: step, steps: steps))
                        return true
                    })
                try writeAtomically(plan, to: request.enginePath)
            } else {
                guard let trtexec = request.trtexecPath ?? TrtexecCommand.locate() else {
                    throw TensorRTError(.unavailable, "trtexec not found on PATH or at \(TrtexecCommand.jetpackPath)")
                }
                version = try trtexecVersion(trtexec)
                let config = try TensorRTBuildConfiguration(options: options, version: version)
                for note in config.ignored { emit(EngineBuildEvent(event: "log", severity: 2, message: "ignored: \(note)")) }
                let temp = request.enginePath + ".tmp.\(getpid())"
                defer { unlink(temp) }
                var output: [String] = []
                let args = TrtexecCommand.arguments(onnx: request.modelPath, engine: temp, configuration: config, version: version)
                emit(EngineBuildEvent(event: "log", severity: 3, message: "trtexec " + args.joined(separator: " ")))
                let exit = try ChildProcess.run(trtexec, args, environment: ProcessInfo.processInfo.environment, timeout: 86400) { line in
                    output.append(line)
                    if output.count > 4000 { output.removeFirst(2000) }
                    emit(EngineBuildEvent(event: "log", severity: line.contains("[E]") ? 1 : line.contains("[W]") ? 2 : 3, message: line))
                }
                let text = output.joined(separator: "\n")
                guard exit == .exited(0), TrtexecCommand.passed(text), let plan = FileManager.default.contents(atPath: temp), !plan.isEmpty else {
                    let memory = AdaptiveWorkspace.memoryFailure(exit: exit, output: output, reportedOutOfMemory: false)
                    throw TensorRTError(memory != nil ? .outOfMemory : .buildFailed,
                                        "trtexec \(exit.description): \(TrtexecCommand.errors(text).isEmpty ? String(output.suffix(10).joined(separator: "\n")) : TrtexecCommand.errors(text))")
                }
                try writeAtomically([UInt8](plan), to: request.enginePath)
            }
            emit(EngineBuildEvent(event: "result", status: "ok", workspaceBytes: workspaceBytes, seconds: MonotonicClock.now - start,
                                  tensorrt: version.description, method: method.rawValue))
            return 0
        } catch let error as TensorRTError {
            emit(EngineBuildEvent(event: "result", message: error.message, status: error.kind.rawValue, workspaceBytes: workspaceBytes,
                                  seconds: MonotonicClock.now - start))
            return error.exitCode.rawValue
        } catch {
            emit(EngineBuildEvent(event: "result", message: "\(error)", status: TensorRTError.Kind.buildFailed.rawValue,
                                  workspaceBytes: workspaceBytes, seconds: MonotonicClock.now - start))
            return ExitCode.runtimeFailure.rawValue
        }
    }

    /// trtexec's TensorRT version: from libnvinfer beside it when loadable, else its `--help` banner.
    static func trtexecVersion(_ trtexec: String) throws -> TensorRTVersion {
        if let probed = try? TensorRTLibrary.probe() { return probed.version }
        var lines: [String] = []
        _ = try ChildProcess.run(trtexec, ["--help"], environment: ProcessInfo.processInfo.environment, timeout: 60) { lines.append($0) }
        guard let v = TensorRTVersion(trtexecOutput: lines.joined(separator: "\n")) else {
            throw TensorRTError(.libraryNotFound, "cannot tell \(trtexec)'s TensorRT version: no [TensorRT vNNNN] in its --help output")
        }
        return v
    }

    /// Writes one protocol line to stdout.
    static func emit(_ event: EngineBuildEvent) {
        FileHandle.standardOutput.write(Data((event.jsonLine + "\n").utf8))
    }

    /// Temporary file in the same directory, fsync, rename.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temp = path + ".part.\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TensorRTError(.buildFailed, "cannot create \(temp): \(String(cString: strerror(errno)))") }
        var ok = bytes.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temp, path) == 0 else {
            unlink(temp)
            throw TensorRTError(.buildFailed, "cannot write the engine to \(path): \(String(cString: strerror(errno)))")
        }
    }
}
