import CKilnTensorRT
import Glibc
import KilnCore

/// Kiln's TensorRT, loaded through the C bridge (`CKilnTensorRT`): build and deserialize engines.
///
/// The bridge is compiled against TensorRT's headers when they were present at build time;
/// otherwise `open()` throws `.unavailable` ("built without TensorRT headers") and Kiln builds with
/// trtexec if it is installed.
// unchecked: the bridge handle is immutable; each build makes its own builder, so any thread may call.
public final class TensorRTLibrary: @unchecked Sendable {
    /// The bridge's `kiln_trt_library`.
    let handle: OpaquePointer
    /// The loaded library's version.
    public let version: TensorRTVersion
    /// The library's build number (`getInferLibBuildVersion`, TensorRT ≥ 10), or nil where it has none.
    public let buildNumber: Int?
    /// The CUDA runtime version TensorRT loaded (TensorRT 8 links cudart dynamically; e.g. 11040),
    /// or nil where it is linked in statically (TensorRT 10).
    public let cudaRuntimeVersion: Int?

    /// True when the bridge has the real implementation (TensorRT headers were found at build time).
    public static var compiledWithHeaders: Bool { kiln_trt_compiled_with_headers() != 0 }

    /// The headers' version the bridge was built with, or nil for the stub.
    public static var headerVersion: TensorRTVersion? {
        let v = Int(kiln_trt_header_version())
        return v == 0 ? nil : TensorRTVersion(encoded: v)
    }

    /// Why the bridge is the stub (the missing header and the fix), or nil when it is the real bridge.
    public static var stubReason: String? { kiln_trt_stub_reason().map { String(cString: $0) } }

    /// What the bridge was compiled against, for `kiln --version` and `kiln doctor`:
    /// `TensorRT 10.3.0 headers`, or `stub (<reason>)`.
    public static var bridgeDescription: String { String(cString: kiln_trt_bridge_description()) }

    /// The installed libnvinfer's version and soname, read with `getInferLibVersion()` (no headers needed).
    public static func probe(libraryPath: String? = nil) throws(TensorRTError) -> (version: TensorRTVersion, library: String) {
        var version: Int32 = 0
        var name = [CChar](repeating: 0, count: 512)
        var error = [CChar](repeating: 0, count: 2048)
        let status = kiln_trt_probe_version(libraryPath, &version, &name, name.count, &error, error.count)
        guard status == KILN_TRT_OK else { throw TensorRTError(Self.kind(status), text(error)) }
        return (TensorRTVersion(encoded: Int(version)), text(name))
    }

    /// Loads libnvinfer, the ONNX parser and the plugins (from `directory` first, when given).
    public init(directory: String? = nil) throws(TensorRTError) {
        var error = [CChar](repeating: 0, count: 4096)
        var lib: OpaquePointer?
        let status = kiln_trt_library_open(directory, &lib, &error, error.count)
        guard status == KILN_TRT_OK, let lib else { throw TensorRTError(Self.kind(status), text(error)) }
        handle = lib
        version = TensorRTVersion(encoded: Int(kiln_trt_library_version(lib)))
        let build = Int(kiln_trt_library_build_version(lib))
        buildNumber = build >= 0 ? build : nil
        let cudart = Int(kiln_trt_library_cudart_version(lib))
        cudaRuntimeVersion = cudart > 0 ? cudart : nil
        if let headers = Self.headerVersion, let reason = headers.incompatibility(library: version) {
            throw TensorRTError(.versionMismatch, reason)
        }
    }

    deinit { kiln_trt_library_close(handle) }

    /// The error kind for a bridge status.
    static func kind(_ status: kiln_trt_status) -> TensorRTError.Kind {
        switch status {
        case KILN_TRT_UNAVAILABLE: .unavailable
        case KILN_TRT_LIBRARY_NOT_FOUND: .libraryNotFound
        case KILN_TRT_VERSION_MISMATCH: .versionMismatch
        case KILN_TRT_PARSE_FAILED: .parseFailed
        case KILN_TRT_INVALID_ARGUMENT: .invalidArgument
        case KILN_TRT_OUT_OF_MEMORY: .outOfMemory
        case KILN_TRT_DESERIALIZE_FAILED: .deserializeFailed
        case KILN_TRT_EXECUTION_FAILED: .executionFailed
        case KILN_TRT_CANCELLED: .cancelled
        case KILN_TRT_NO_IMPLEMENTATION: .noImplementation
        default: .buildFailed
        }
    }

    /// Receives the builder's log and progress; `progress` returns false to cancel.
    final class Callbacks {
        let log: (Int, String) -> Void
        let progress: (String, Int, Int) -> Bool
        init(log: @escaping (Int, String) -> Void, progress: @escaping (String, Int, Int) -> Bool) {
            self.log = log
            self.progress = progress
        }
    }

    /// Builds a serialized engine from ONNX bytes; `modelPath` (the file the bytes came from) lets
    /// the parser find external weights. Blocks for the whole build: call it on a dedicated thread
    /// (normally inside the isolated builder's child process).
    public func build(onnx: [UInt8], modelPath: String? = nil, configuration c: TensorRTBuildConfiguration,
                      log: @escaping (Int, String) -> Void = { _, _ in },
                      progress: @escaping (String, Int, Int) -> Bool = { _, _, _ in true }) throws(TensorRTError) -> [UInt8] {
        let callbacks = Callbacks(log: log, progress: progress)
        let user = Unmanaged.passRetained(callbacks).toOpaque()
        defer { Unmanaged<Callbacks>.fromOpaque(user).release() }
        var strings: [UnsafeMutablePointer<CChar>] = []
        defer { strings.forEach { free($0) } }
        func cString(_ s: String?) -> UnsafePointer<CChar>? {
            guard let s else { return nil }
            let p = strdup(s)!
            strings.append(p)
            return UnsafePointer(p)
        }
        var profiles: [kiln_trt_shape_profile] = []
        for name in c.shapeProfiles.keys.sorted() {
            let p = c.shapeProfiles[name]!
            guard p.min.count <= Int(KILN_TRT_MAX_DIMS) else {
                throw TensorRTError(.invalidArgument, "shape profile for '\(name)' has rank \(p.min.count); at most \(KILN_TRT_MAX_DIMS)")
            }
            var sp = kiln_trt_shape_profile()
            sp.input = cString(name)
            sp.nb_dims = Int32(p.min.count)
            withUnsafeMutableBytes(of: &sp.min) { raw in for (i, v) in p.min.enumerated() { raw.storeBytes(of: Int64(v), toByteOffset: i * 8, as: Int64.self) } }
            withUnsafeMutableBytes(of: &sp.opt) { raw in for (i, v) in p.opt.enumerated() { raw.storeBytes(of: Int64(v), toByteOffset: i * 8, as: Int64.self) } }
            withUnsafeMutableBytes(of: &sp.max) { raw in for (i, v) in p.max.enumerated() { raw.storeBytes(of: Int64(v), toByteOffset: i * 8, as: Int64.self) } }
            profiles.append(sp)
        }
        var config = kiln_trt_build_config()
        config.workspace_bytes = UInt64(c.workspaceBytes)
        config.fp16 = c.fp16 ? 1 : 0
        config.int8 = c.int8 ? 1 : 0
        config.bf16 = c.bf16 ? 1 : 0
        config.calibration_cache_path = cString(c.calibrationCachePath)
        config.nb_profiles = Int32(profiles.count)
        config.dla_core = Int32(c.dlaCore ?? -1)
        config.optimization_level = Int32(c.optimizationLevel ?? -1)
        if let t = c.tacticSources {
            config.set_tactic_sources = 1
            config.tactic_cublas = t.cublas ? 1 : 0
            config.tactic_cublas_lt = t.cublasLt ? 1 : 0
            config.tactic_cudnn = t.cudnn ? 1 : 0
            config.tactic_edge_mask = t.edgeMaskConvolutions ? 1 : 0
        }
        config.timing_cache_path = cString(c.timingCachePath)
        config.model_path = cString(modelPath)
        config.strongly_typed = c.stronglyTyped ? 1 : 0
        config.user = user
        config.log = { user, severity, message in
            guard let user, let message else { return }
            Unmanaged<Callbacks>.fromOpaque(user).takeUnretainedValue().log(Int(severity), String(cString: message))
        }
        config.progress = { user, phase, _, step, steps in
            guard let user else { return 1 }
            return Unmanaged<Callbacks>.fromOpaque(user).takeUnretainedValue()
                .progress(phase.map { String(cString: $0) } ?? "", Int(step), Int(steps)) ? 1 : 0
        }
        var plan: UnsafeMutableRawPointer?
        var planSize = 0
        var error = [CChar](repeating: 0, count: 16384)
        let status = profiles.withUnsafeBufferPointer { buf -> kiln_trt_status in
            config.profiles = buf.baseAddress
            return onnx.withUnsafeBytes { raw in
                kiln_trt_build(handle, raw.baseAddress, raw.count, &config, &plan, &planSize, &error, error.count)
            }
        }
        guard status == KILN_TRT_OK, let plan else { throw TensorRTError(Self.kind(status), text(error)) }
        defer { kiln_trt_free(plan) }
        return [UInt8](UnsafeRawBufferPointer(start: plan, count: planSize))
    }
}

/// Runs one bridge call with a `capacity`-byte message buffer; any status but OK throws the bridge's
/// message, which names the tensor, engine or file at fault.
func bridgeCall(capacity: Int = 1024, _ call: (UnsafeMutablePointer<CChar>, Int) -> kiln_trt_status) throws(TensorRTError) {
    var error = [CChar](repeating: 0, count: capacity)
    let status = error.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count) }
    guard status == KILN_TRT_OK else { throw TensorRTError(TensorRTLibrary.kind(status), text(error)) }
}

/// The NUL-terminated text in a C buffer.
func text(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
