import KilnCore

/// The builder settings for one TensorRT build, resolved from `BuildOptions` for one TensorRT version.
///
/// This is what the bridge's `kiln_trt_build_config` receives (and what `TrtexecCommand` turns into
/// flags); settings a version cannot honour are dropped here and listed in `ignored`, so the
/// behaviour for TensorRT 8, 10 and 11 is decided (and tested) in Swift, not discovered at build
/// time, and the bridge and trtexec build the same engine for one cache key.
public struct TensorRTBuildConfiguration: Sendable, Equatable {
    /// Workspace memory-pool limit in bytes.
    public var workspaceBytes: Int
    /// FP16 kernels allowed.
    public var fp16: Bool
    /// INT8 kernels allowed.
    public var int8: Bool
    /// BF16 kernels allowed (TensorRT ≥ 9, SM ≥ 8.0).
    public var bf16: Bool
    /// Every precision allowed (`trtexec --best`); only with INT8 that has real scales.
    public var best: Bool
    /// A strongly typed network: the model's own types decide precision (TensorRT 11 always; Q/DQ
    /// models on TensorRT 10); no precision flags are set.
    public var stronglyTyped: Bool
    /// INT8 calibration cache file.
    public var calibrationCachePath: String?
    /// Optimization profile, by input name.
    public var shapeProfiles: [String: ShapeProfile]
    /// DLA core with GPU fallback, or nil for the GPU.
    public var dlaCore: Int?
    /// Builder optimization level (TensorRT ≥ 8.6), or nil for the default.
    public var optimizationLevel: Int?
    /// Tactic sources to switch on or off relative to TensorRT's defaults (`+X`/`-X` as trtexec
    /// does), or nil for the defaults; cuBLAS/cuDNN exist only before TensorRT 10.
    public var tacticSources: TacticSources?
    /// Timing cache file.
    public var timingCachePath: String?
    /// Settings the version, device or model cannot honour, each with the reason (logged as warnings).
    public var ignored: [String]

    /// Resolves `options` for TensorRT `version`, a model with `model`'s types, on a GPU of compute
    /// capability `computeCapability` (e.g. 8.7; nil when unknown).
    public init(options: BuildOptions, version: TensorRTVersion, model: ModelTypes = .float32, computeCapability: ComputeCapability? = nil) throws {
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
        let precision = options.precision
        workspaceBytes = options.workspaceBytes
        stronglyTyped = version.major >= 11 || (version.major >= 10 && model.quantized)
        let bf16Capable = computeCapability.map { $0 >= ComputeCapability(major: 8, minor: 0) } ?? false
        if stronglyTyped {
            (fp16, int8, bf16, best) = (false, false, false, false)
            if precision != .fp32 && !model.carries(precision) {
                ignored.append("precision \(precision): TensorRT \(version) builds this model strongly typed (precision comes from the model's own types) and the model has no \(ModelTypes.requirement(for: precision)), so the engine is fp32; for \(precision) the model needs \(ModelTypes.requirement(for: precision))")
            } else if model.quantized && version.major < 11 {
                ignored.append("precision \(precision): the model carries Q/DQ nodes, so TensorRT \(version) builds it strongly typed and its own types decide each layer's precision")
            }
            if options.calibrationCachePath != nil {
                ignored.append("calibration cache: a strongly typed build takes INT8 scales from the model's Q/DQ nodes")
            }
            calibrationCachePath = nil
        } else {
            switch precision {
            case .fp32: (fp16, int8, bf16) = (false, false, false)
            case .fp16: (fp16, int8, bf16) = (true, false, false)
            case .int8: (fp16, int8, bf16) = (true, true, false)  // INT8 layers fall back to FP16, not FP32
            case .bf16: (fp16, int8, bf16) = (false, false, true)
            case .best: (fp16, int8, bf16) = (true, true, version.major >= 9 && bf16Capable)
            }
            if precision == .bf16 {
                guard version.major >= 9 else {
                    throw TensorRTError(.invalidArgument, "BF16 needs TensorRT 9 or later; this is TensorRT \(version); use --precision fp16")
                }
                if let cc = computeCapability, cc < ComputeCapability(major: 8, minor: 0) {
                    throw TensorRTError(.invalidArgument, "BF16 needs a GPU of SM 8.0 or later; this one is SM \(cc); use --precision fp16")
                }
            }
            // INT8 without real scales: trtexec would use placeholder ranges (garbage accuracy) and the
            // bridge would quietly build FP16, so one cache key would name two different engines.
            let scales = options.calibrationCachePath != nil || model.quantized
            if int8 && !scales {
                if precision == .int8 {
                    throw TensorRTError(.invalidArgument, "INT8 needs a calibration cache or a model with Q/DQ nodes; this model has neither, and without real scales the engine's accuracy would be garbage; quantize the model (Q/DQ nodes) or use --precision fp16")
                }
                int8 = false
                ignored.append("INT8 in precision best: no calibration cache and no Q/DQ nodes, so best builds FP16\(bf16 ? "/BF16" : "") without INT8")
            }
            best = precision == .best && int8
            calibrationCachePath = int8 ? options.calibrationCachePath : nil
        }
        shapeProfiles = options.shapeProfiles
        dlaCore = options.dlaCore
        if options.dlaCore != nil && !stronglyTyped && !fp16 && !int8 {
            // DLA runs only FP16 and INT8; trtexec enables FP16 for DLA the same way.
            fp16 = true
            ignored.append("precision \(precision) on DLA: DLA runs FP16 or INT8 only, so FP16 is enabled (as trtexec does); layers DLA cannot run fall back to the GPU")
        }
        if version.atLeast(8, 6) {
            optimizationLevel = options.optimizationLevel
        } else {
            optimizationLevel = nil
            if options.optimizationLevel != 3 { ignored.append("builder optimization level \(options.optimizationLevel): needs TensorRT 8.6, this is \(version)") }
        }
        tacticSources = options.tacticSources
        if let t = options.tacticSources, version.major >= 10, t.cublas || t.cublasLt || t.cudnn {
            ignored.append("cuBLAS/cuDNN tactic sources: TensorRT \(version) has none (only edge-mask and JIT convolutions)")
        }
        timingCachePath = options.timingCachePath
        self.ignored = ignored
    }
}
