import Foundation
import KilnCore

/// Builds with NVIDIA's `trtexec` when the bridge has no TensorRT headers but trtexec is installed
/// (JetPack puts it in `/usr/src/tensorrt/bin`): the same settings as the bridge, as flags.
public enum TrtexecCommand {
    /// Where JetPack installs trtexec (not on PATH by default).
    public static let jetpackPath = "/usr/src/tensorrt/bin/trtexec"

    /// trtexec on PATH, else JetPack's copy, else nil.
    public static func locate(path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        for dir in (path ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/trtexec"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return FileManager.default.isExecutableFile(atPath: jetpackPath) ? jetpackPath : nil
    }

    /// The flags for building `onnx` into `engine` with `c` on trtexec of `version`.
    ///
    /// Workspace: `--workspace=N` (MiB) before TensorRT 8.4, `--memPoolSize=workspace:N` (MiB) on 8.4–9,
    /// `--memPoolSize=workspace:NM` from 10 (which takes unit suffixes). `--skipInference` from 8.6,
    /// `--buildOnly` before. Tactic sources are `+X`/`-X` edits of TensorRT's defaults (cuBLAS/cuDNN
    /// before 10, edge-mask convolutions from 8.4); BF16 needs 9; optimization level 8.6; strongly
    /// typed builds pass `--stronglyTyped` on 10 and no precision flags.
    public static func arguments(onnx: String, engine: String, configuration c: TensorRTBuildConfiguration,
                                 version: TensorRTVersion) -> [String] {
        var args = ["--onnx=\(onnx)", "--saveEngine=\(engine)"]
        let mib = max(1, c.workspaceBytes >> 20)
        if !version.atLeast(8, 4) {
            args.append("--workspace=\(mib)")
        } else if version.major < 10 {
            args.append("--memPoolSize=workspace:\(mib)")
        } else {
            args.append("--memPoolSize=workspace:\(mib)M")
        }
        if c.stronglyTyped {
            // TensorRT 11 builds only strongly typed networks; 10 needs the flag (Q/DQ models).
            if version.major < 11 { args.append("--stronglyTyped") }
        } else if c.best {
            args.append("--best")
        } else {
            if c.fp16 { args.append("--fp16") }
            if c.int8 { args.append("--int8") }
            if c.bf16 { args.append("--bf16") }
        }
        if let calib = c.calibrationCachePath, c.int8 { args.append("--calib=\(calib)") }
        if !c.shapeProfiles.isEmpty {
            func spec(_ pick: (ShapeProfile) -> [Int]) -> String {
                c.shapeProfiles.keys.sorted().map { name in
                    "\(name):" + pick(c.shapeProfiles[name]!).map(String.init).joined(separator: "x")
                }.joined(separator: ",")
            }
            args += ["--minShapes=\(spec(\.min))", "--optShapes=\(spec(\.opt))", "--maxShapes=\(spec(\.max))"]
        }
        if let path = c.timingCachePath { args.append("--timingCacheFile=\(path)") }
        if let dla = c.dlaCore { args += ["--useDLACore=\(dla)", "--allowGPUFallback"] }
        if let level = c.optimizationLevel { args.append("--builderOptimizationLevel=\(level)") }
        if let t = c.tacticSources {
            // Edits of TensorRT's defaults, as the bridge applies them: JIT convolutions stay as they are.
            var list: [String] = []
            if version.major < 10 {
                list.append((t.cublas ? "+" : "-") + "CUBLAS")
                list.append((t.cublasLt ? "+" : "-") + "CUBLAS_LT")
                list.append((t.cudnn ? "+" : "-") + "CUDNN")
            }
            if version.atLeast(8, 4) { list.append((t.edgeMaskConvolutions ? "+" : "-") + "EDGE_MASK_CONVOLUTIONS") }
            if !list.isEmpty { args.append("--tacticSources=\(list.joined(separator: ","))") }
        }
        args.append(version.atLeast(8, 6) ? "--skipInference" : "--buildOnly")
        return args
    }

    /// Whether trtexec's output reports success (`&&&& PASSED TensorRT.trtexec`).
    public static func passed(_ output: String) -> Bool {
        output.contains("&&&& PASSED TensorRT.trtexec")
    }

    /// The error lines of a failed trtexec run (`[E]` lines), for the error message.
    public static func errors(_ output: String) -> String {
        let lines = output.split(separator: "\n").filter { $0.contains("[E]") || $0.contains("&&&& FAILED") }
        return lines.suffix(12).joined(separator: "\n")
    }
}
