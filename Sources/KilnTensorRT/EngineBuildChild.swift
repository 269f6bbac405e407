import Foundation
import Glibc
import KilnCore
import KilnONNX

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
            let model = modelTypes(onnx: [UInt8](onnx), path: request.modelPath)
            let version: TensorRTVersion
            if method == .bridge {
                let library = try TensorRTLibrary()
                version = library.version
                let config = try configuration(options: options, version: version, model: model, request: request)
                let plan = try library.build(onnx: [UInt8](onnx), modelPath: request.modelPath, configuration: config,
                    log: { severity, message in
                        if severity <= 3 { emit(.log(severity: severity, message)) }
                    },
                    progress: { phase, step, steps in
                        emit(.progress(phase: phase, step: step, steps: steps))
                        return true
                    })
                try AtomicFile.write(plan, to: request.enginePath)
            } else {
                guard let trtexec = request.trtexecPath ?? TrtexecCommand.locate() else {
                    throw TensorRTError(.unavailable, "trtexec not found on PATH or at \(TrtexecCommand.jetpackPath)")
                }
                version = try trtexecVersion(trtexec)
                let config = try configuration(options: options, version: version, model: model, request: request)
                let temp = request.enginePath + ".tmp.\(getpid())"
                defer { unlink(temp) }
                var output: [String] = []
                let args = TrtexecCommand.arguments(onnx: request.modelPath, engine: temp, configuration: config, version: version)
                emit(.log(severity: 3, "trtexec " + args.joined(separator: " ")))
                // trtexec stays in this process's group, so the parent's timeout kills it with us.
                let exit = try Subprocess.run(trtexec, args, processGroup: .parent, timeout: 86400) { line in
                    output.append(line)
                    if output.count > 4000 { output.removeFirst(2000) }
                    emit(.log(severity: line.contains("[E]") ? 1 : line.contains("[W]") ? 2 : 3, line))
                }
                let text = output.joined(separator: "\n")
                guard exit == .exited(0), TrtexecCommand.passed(text), let plan = FileManager.default.contents(atPath: temp), !plan.isEmpty else {
                    let kind: TensorRTError.Kind = switch AdaptiveWorkspace.classify(
                        exit: exit, errorLines: output.filter { !AdaptiveWorkspace.isWarningOrInfo($0) }, reportedKind: nil) {
                    case .memory: .outOfMemory
                    case .noImplementation: .noImplementation
                    case nil: .buildFailed
                    }
                    throw TensorRTError(kind,
                                        "trtexec \(exit.description): \(TrtexecCommand.errors(text).isEmpty ? String(output.suffix(10).joined(separator: "\n")) : TrtexecCommand.errors(text))")
                }
                try AtomicFile.write([UInt8](plan), to: request.enginePath)
            }
            emit(.result(status: "ok", workspaceBytes: workspaceBytes, seconds: MonotonicClock.now - start,
                                  tensorrt: version.description, method: method.rawValue))
            return 0
        } catch let error as TensorRTError {
            emit(.result(status: error.kind.rawValue, message: error.message, workspaceBytes: workspaceBytes,
                                  seconds: MonotonicClock.now - start))
            return error.exitCode.rawValue
        } catch {
            emit(.result(status: TensorRTError.Kind.buildFailed.rawValue, message: "\(error)",
                         workspaceBytes: workspaceBytes, seconds: MonotonicClock.now - start))
            return ExitCode.runtimeFailure.rawValue
        }
    }

    /// trtexec's TensorRT version, from its own `--help` banner (`[TensorRT v100300]`): on a host
    /// with two TensorRTs the default libnvinfer may not be the one trtexec runs with.
    static func trtexecVersion(_ trtexec: String) throws -> TensorRTVersion {
        var lines: [String] = []
        _ = try Subprocess.run(trtexec, ["--help"], processGroup: .parent, timeout: 60) { line in
            if lines.count < 4000 { lines.append(line) }
        }
        if let v = TensorRTVersion(trtexecOutput: lines.joined(separator: "\n")) { return v }
        if let probed = try? TensorRTLibrary.probe() { return probed.version }
        throw TensorRTError(.libraryNotFound, "cannot tell \(trtexec)'s TensorRT version: no [TensorRT vNNNN] in its --help output and no loadable libnvinfer")
    }

    /// The model's own types (for strongly typed builds); a plain fp32 model when Kiln's ONNX reader
    /// cannot read it (TensorRT's parser then has the last word).
    static func modelTypes(onnx: [UInt8], path: String) -> ModelTypes {
        do {
            let baseDirectory = URL(fileURLWithPath: path).deletingLastPathComponent()
            return ModelTypes(model: try ONNXReader.model(onnx, baseDirectory: baseDirectory))
        } catch {
            emit(.log(severity: 2, "kiln: could not read \(path)'s types (\(error)); assuming an fp32 model without Q/DQ nodes"))
            return .float32
        }
    }

    /// The configuration for this build, with its notes logged; a calibration cache that cannot be
    /// read is refused here (trtexec would calibrate with random data instead).
    static func configuration(options: BuildOptions, version: TensorRTVersion, model: ModelTypes,
                              request: EngineBuildRequest) throws -> TensorRTBuildConfiguration {
        let config = try TensorRTBuildConfiguration(options: options, version: version, model: model,
                                                    computeCapability: request.computeCapability)
        if let calib = config.calibrationCachePath, !FileManager.default.isReadableFile(atPath: calib) {
            throw TensorRTError(.invalidArgument, "INT8 calibration cache \(calib) cannot be read; give an existing calibration cache or a model with Q/DQ nodes")
        }
        for note in config.ignored { emit(.log(severity: 2, "ignored: \(note)")) }
        return config
    }

    /// Writes one protocol line to stdout (every isolated child speaks this protocol).
    public static func emit(_ event: EngineBuildEvent) {
        FileHandle.standardOutput.write(Data((event.jsonLine + "\n").utf8))
    }
}
