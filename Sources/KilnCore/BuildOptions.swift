import Foundation

/// The precision a backend builds an engine in; mirrors TensorRT's builder flags.
public enum Precision: String, Sendable, Codable, CaseIterable {
    /// Full float32.
    case fp32
    /// float16 where the backend supports it.
    case fp16
    /// int8, from a calibration cache or an explicitly quantized model.
    case int8
    /// bfloat16 where the backend supports it (TensorRT ≥ 9 on Ampere and later).
    case bf16
    /// Let the backend choose the fastest of all of them (`trtexec --best`).
    case best
}

/// The min/opt/max shapes TensorRT's optimization profile takes for one dynamic input.
public struct ShapeProfile: Sendable, Codable, Equatable {
    /// Smallest shape the engine must accept.
    public var min: [Int]
    /// Shape the engine is tuned for.
    public var opt: [Int]
    /// Largest shape the engine must accept.
    public var max: [Int]

    /// Creates a profile; all three must have the same rank.
    public init(min: [Int], opt: [Int], max: [Int]) {
        self.min = min
        self.opt = opt
        self.max = max
    }

    /// A profile that admits only `shape`.
    public init(fixed shape: [Int]) { self.init(min: shape, opt: shape, max: shape) }
}

/// TensorRT 8's tactic-source policy: which libraries the builder may time tactics from.
///
/// On 4 GB boards cuBLAS and cuDNN workspaces cause OOM kills, so small profiles turn them off.
public struct TacticSources: Sendable, Codable, Equatable {
    /// Allow cuBLAS tactics.
    public var cublas: Bool
    /// Allow cuBLASLt tactics.
    public var cublasLt: Bool
    /// Allow cuDNN tactics.
    public var cudnn: Bool
    /// Allow edge-mask convolution tactics.
    public var edgeMaskConvolutions: Bool

    /// Creates a tactic-source policy.
    public init(cublas: Bool = true, cublasLt: Bool = true, cudnn: Bool = true, edgeMaskConvolutions: Bool = true) {
        self.cublas = cublas
        self.cublasLt = cublasLt
        self.cudnn = cudnn
        self.edgeMaskConvolutions = edgeMaskConvolutions
    }
}

/// Everything a backend's build step takes; part of the engine cache key once normalised.
public struct BuildOptions: Sendable, Codable, Equatable {
    /// The precision to build in.
    public var precision: Precision
    /// The builder's workspace (memory pool) limit in bytes.
    ///
    /// Not part of the cache key: an engine built with less workspace is still valid.
    public var workspaceBytes: Int
    /// Optimization profiles per dynamic input name.
    public var shapeProfiles: [String: ShapeProfile]
    /// The DLA core to build for, with GPU fallback; `nil` builds for the GPU.
    public var dlaCore: Int?
    /// TensorRT's builder optimization level (0–5; 3 is TensorRT's default).
    public var optimizationLevel: Int
    /// Where the timing cache is loaded from and saved to; not part of the cache key.
    public var timingCachePath: String?
    /// TensorRT 8 tactic sources; `nil` leaves TensorRT's default.
    public var tacticSources: TacticSources?
    /// INT8 calibration cache file; not part of the key, its digest is (see `calibrationDigest`).
    public var calibrationCachePath: String?
    /// sha256 of the calibration cache's bytes, when one is used.
    public var calibrationDigest: String?
    /// Threads a CPU backend may use; 0 means one per core. Not part of the key.
    public var threads: Int
    /// The smallest workspace a retry after a memory failure may use (the profile's
    /// `workspaceFloorMiB`); nil leaves the backend's own floor. Not part of the key.
    public var workspaceFloorBytes: Int?
    /// The largest workspace a retry after "no implementation" may grow to (the profile's
    /// `workspaceCapMiB`); nil keeps `workspaceBytes` as the limit. Not part of the key.
    public var workspaceCapBytes: Int?

    /// Creates build options; defaults are fp32, a 256 MiB workspace, level 3, no DLA.
    public init(
        precision: Precision = .fp32, workspaceBytes: Int = 256 << 20, shapeProfiles: [String: ShapeProfile] = [:],
        dlaCore: Int? = nil, optimizationLevel: Int = 3, timingCachePath: String? = nil,
        tacticSources: TacticSources? = nil, calibrationCachePath: String? = nil, calibrationDigest: String? = nil,
        threads: Int = 0
    ) {
        self.precision = precision
        self.workspaceBytes = workspaceBytes
        self.shapeProfiles = shapeProfiles
        self.dlaCore = dlaCore
        self.optimizationLevel = optimizationLevel
        self.timingCachePath = timingCachePath
        self.tacticSources = tacticSources
        self.calibrationCachePath = calibrationCachePath
        self.calibrationDigest = calibrationDigest
        self.threads = threads
    }

    /// The options that change what engine gets built, in a stable textual form for the cache key.
    ///
    /// Workspace, timing-cache path, calibration path and thread count are left out: they change
    /// how long a build takes or where files live, not which engine is valid.
    public var normalisedKeyFields: [String: String] {
        var fields: [String: String] = [
            "precision": precision.rawValue,
            "optimization_level": String(optimizationLevel),
            "dla_core": dlaCore.map(String.init) ?? "none",
        ]
        for name in shapeProfiles.keys.sorted() {
            let p = shapeProfiles[name]!
            func s(_ d: [Int]) -> String { d.map(String.init).joined(separator: "x") }
            fields["shape.\(name)"] = "\(s(p.min)):\(s(p.opt)):\(s(p.max))"
        }
        if let t = tacticSources {
            fields["tactics"] = "cublas=\(t.cublas),cublasLt=\(t.cublasLt),cudnn=\(t.cudnn),edgemask=\(t.edgeMaskConvolutions)"
        }
        if let c = calibrationDigest ?? calibrationCachePath.map(Self.calibrationFileDigest) { fields["calibration"] = c }
        return fields
    }

    /// The sha256 of the calibration cache at `path` (the engine depends on its scales, so replacing
    /// the file must change the key), or `unreadable:<path>` when it cannot be read.
    static func calibrationFileDigest(_ path: String) -> String {
        guard let bytes = FileManager.default.contents(atPath: path) else { return "unreadable:\(path)" }
        return SHA256.hex([UInt8](bytes))
    }
}
