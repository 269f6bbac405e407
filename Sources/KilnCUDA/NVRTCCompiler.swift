import Glibc
import KilnCore

/// Compiles CUDA C to a cubin for one SM with NVRTC, through a `CubinCache`.
///
/// The cache key is NVRTC's version, the target and the SHA-256 of the source and options, so a
/// toolkit upgrade or a kernel change recompiles and nothing else does.
public struct NVRTCCompiler: Sendable {
    /// What a compilation produced.
    public struct Output: Sendable {
        /// The cubin (or PTX, from NVRTC older than 11.1) image for `cuModuleLoadData`.
        public var image: [UInt8]
        /// True when the image came from the cache rather than a fresh compilation.
        public var fromCache: Bool
        /// The cache key (hex).
        public var key: String
        /// Seconds spent compiling (0 from cache).
        public var compileSeconds: Double
        /// `cubin` or `ptx`.
        public var kind: String
    }

    /// Where compiled images are kept; `nil` disables caching.
    public var cache: CubinCache?

    /// A specific NVRTC library (tests load the pip wheel's); `nil` uses the process-wide one.
    let library: NVRTCFunctions?

    /// Creates a compiler with an optional cache, using the system's NVRTC.
    public init(cache: CubinCache?) {
        self.cache = cache
        self.library = nil
    }

    /// Creates a compiler that uses the NVRTC library at `libraryPath` (e.g. from the `nvidia-cuda-nvrtc` wheel).
    public init(cache: CubinCache?, libraryPath: String) throws(CUDAError) {
        self.cache = cache
        self.library = try NVRTCFunctions(path: libraryPath)
    }

    /// This compiler's NVRTC: the explicit library, else the process-wide one.
    func resolvedLibrary() throws(CUDAError) -> NVRTCFunctions {
        if let library { return library }
        return try CUDA.nvrtc()
    }

    /// NVRTC's version as loaded by this compiler.
    public func version() throws(CUDAError) -> (major: Int, minor: Int) {
        let api = try resolvedLibrary()
        var major: Int32 = 0, minor: Int32 = 0
        try api.check(api.nvrtcVersion(&major, &minor), "nvrtcVersion")
        return (Int(major), Int(minor))
    }

    /// The cache key for `source` compiled with `options` for `sm` (`90`) by NVRTC `version`.
    public static func cacheKey(source: String, options: [String], sm: String, nvrtcVersion: (major: Int, minor: Int)) -> String {
        SHA256.hex("kiln-kernel-v1\nnvrtc=\(nvrtcVersion.major).\(nvrtcVersion.minor)\nsm=\(sm)\noptions=\(options.joined(separator: " "))\nsource=\(SHA256.hex(source))")
    }

    /// Compiles `source` (named `name` in messages) for `sm_<sm>`, or returns the cached image.
    public func compile(source: String, name: String, sm: String, options extra: [String] = []) throws(CUDAError) -> Output {
        let api = try resolvedLibrary()
        let version = try version()
        let hasCubin = api.nvrtcGetCUBIN != nil && api.nvrtcGetCUBINSize != nil
        let target = hasCubin ? "--gpu-architecture=sm_\(sm)" : "--gpu-architecture=compute_\(sm)"
        let options = [target, "--std=c++14"] + extra
        let key = Self.cacheKey(source: source, options: options, sm: sm, nvrtcVersion: version)
        let kind = hasCubin ? "cubin" : "ptx"
        if let cache, let image = cache.load(key: key, kind: kind) {
            return Output(image: image, fromCache: true, key: key, compileSeconds: 0, kind: kind)
        }
        let start = MonotonicClock.now
        var program: CUhandle?
        try api.check(api.nvrtcCreateProgram(&program, source, name, 0, nil, nil), "nvrtcCreateProgram(\(name))")
        guard let prog = program else { throw .invalidArgument("nvrtcCreateProgram(\(name)) returned no program") }
        defer { var p: CUhandle? = prog; _ = api.nvrtcDestroyProgram(&p) }
        let cOptions = options.map { strdup($0) }
        defer { cOptions.forEach { free($0) } }
        let result = cOptions.map { UnsafePointer($0) }.withUnsafeBufferPointer { opts in
            api.nvrtcCompileProgram(prog, Int32(opts.count), opts.baseAddress)
        }
        if result != 0 {
            var logSize = 0
            _ = api.nvrtcGetProgramLogSize(prog, &logSize)
            var log = [CChar](repeating: 0, count: max(logSize, 1))
            _ = api.nvrtcGetProgramLog(prog, &log)
            throw .compilation(program: name, target: target, log: String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        var size = 0
        var image: [CChar]
        if hasCubin, let getSize = api.nvrtcGetCUBINSize, let get = api.nvrtcGetCUBIN {
            try api.check(getSize(prog, &size), "nvrtcGetCUBINSize(\(name))")
            image = [CChar](repeating: 0, count: size)
            try api.check(get(prog, &image), "nvrtcGetCUBIN(\(name))")
        } else {
            try api.check(api.nvrtcGetPTXSize(prog, &size), "nvrtcGetPTXSize(\(name))")
            image = [CChar](repeating: 0, count: size)
            try api.check(api.nvrtcGetPTX(prog, &image), "nvrtcGetPTX(\(name))")
        }
        let bytes = image.map { UInt8(bitPattern: $0) }
        if let cache {
            do { try cache.store(key: key, kind: kind, image: bytes) } catch {
                Log.warning("kernel cache: could not store \(name) (\(error)); it will be recompiled next time")
            }
        }
        return Output(image: bytes, fromCache: false, key: key, compileSeconds: MonotonicClock.now - start, kind: kind)
    }
}
