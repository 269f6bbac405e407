import KilnCore

/// The builder settings for one TensorRT build, resolved from `BuildOptions` for one TensorRT version.
///
/// This is what the bridge's `kiln_trt_build_config` receives (and what `TrtexecCommand` turns into
/// flags); settings a version cannot honour are dropped here and listed in `ignored`, so the
/// behaviour for TensorRT 8 and 10 is decided (and tested) in Swift, not discovered at build time.
public struct TensorRTBuildConfiguration: Sendable, Equatable {
    /// Workspace memory-pool limit in bytes.
    public var workspaceBytes: Int
    /// FP16 kernels allowed.
    public var fp16: Bool
    /// INT8 kernels allowed.
    public var int8: Bool
    /// BF16 kernels allowed (TensorRT ≥ 9).
    public var bf16: Bool
    /// Every precision allowed (`trtexec --best`).
    public var best: Bool
    /// INT8 calibration cache file.
    public var calibrationCachePath: String?
    /// Optimization profile, by input name.
    public var shapeProfiles: [String: ShapeProfile]
    /// DLA core with GPU fallback, or nil for the GPU.
    public var dlaCore: Int?
    /// Builder optimization level (TensorRT ≥ 8.6), or nil for the default.
    public var optimizationLevel: Int?
    /// TensorRT 8 tactic sources, or nil for TensorRT's default (always nil on 10).
    public var tacticSources: TacticSources?
    /// Timing cache file.
    public var timingCachePath: String?
    /// Settings the version cannot honour, each with the reason (logged as warnings).
    public var ignored: [String]

    /// Resolves `options` for TensorRT `version`.
    public init(options: BuildOptions, version: TensorRTVersion) throws {
        guard options.workspaceBytes >= 1 << 20 else {
            throw TensorRTError(.invalidArgument, "workspace \(options.workspaceBytes) bytes is below 1 MiB; give --workspace in MiB (e.g. 256)")
        }
        guard (0...5).contains(options.optimizationLevel) else {
            throw TensorRTError(.invalidArgument, "builder optimization level \(options.optimizationLevel) is outside 0…5")
        }
        for (name, p) in options.shapeProfiles {
            guard p.min.count == p.opt.count, p.opt.count == p.max.count, !p.min.isEmpty else {
                throw TensorRTError(.invalidArgument, "shape profile for '\(name)': min/opt/max must have the same rank")
            }
            for i in p.min.indices where !(1 <= p.min[i] && p.min[i] <= p.opt[i] && p.opt[i] <= p.max[i]) {
                throw TensorRTError(.invalidArgument, "shape profile for '\(name)' dimension \(i): need 1 ≤ min ≤ opt ≤ max, got \(p.min[i]):\(p.opt[i]):\(p.max[i])")
            }
        }
        var ignored: [String] = []
        workspaceBytes = options.workspaceBytes
        best = options.precision == .best
        switch options.precision {
        case .fp32: (fp16, int8, bf16) = (false, false, false)
        case .fp16: (fp16, int8, bf16) = (true, false, false)
        case .int8: (fp16, int8, bf16) = (true, true, false)  // INT8 layers fall back to FP16, not FP32
        case .bf16: (fp16, int8, bf16) = (false, false, true)
        case .best: (fp16, int8, bf16) = (true, true, version.major >= 9)
        }
        if bf16 && version.major < 9 {
            if options.precision == .bf16 {
                throw TensorRTError(.invalidArgument, "BF16 needs TensorRT 9 or later; this is TensorRT \(version); use --precision fp16")
            }
            bf16 = false
        }
        calibrationCachePath = int8 ? options.calibrationCachePath : nil
        shapeProfiles = options.shapeProfiles
        dlaCore = options.dlaCore
        if version.atLeast(8, 6) {
            optimizationLevel = options.optimizationLevel
        } else {
            optimizationLevel = nil
            if options.optimizationLevel != 3 { ignored.append("builder optimization level \(options.optimizationLevel): needs TensorRT 8.6, this is \(version)") }
        }
        if version.major < 10 {
            tacticSources = options.tacticSources
        } else {
            tacticSources = nil
            if options.tacticSources != nil { ignored.append("tactic sources: a TensorRT 8 setting; TensorRT \(version) has no cuBLAS/cuDNN tactics") }
        }
        timingCachePath = options.timingCachePath
        self.ignored = ignored
    }
}
