import Foundation
import KilnCore
import KilnCUDA
import KilnInference

/// The TensorRT inference backend: builds engines for this device's SM in the isolated builder
/// (bridge, or trtexec when Kiln has no TensorRT headers) and runs them through the bridge.
///
/// Engines are bound to `identity()`: TensorRT's full version with its build number (the library's
/// on TensorRT >= 10, else the installed package's), the GPU's name, SM and SM count, and the CUDA
/// runtime TensorRT uses (the cudart TensorRT 8 loads, else the CUDA release TensorRT's package
/// was built for, else the driver's), so a JetPack upgrade or another board invalidates them.
public struct TensorRTBackend: InferenceBackend {
    public var name: String { "tensorrt" }
    /// The CUDA device to build for and run on.
    public var deviceIndex: Int
    /// The isolated builder (child executable, timeout, workspace policy).
    public var builder: IsolatedBuilder
    /// Where timing caches live (beside the engine cache), keyed by TensorRT version and device;
    /// nil keeps whatever `BuildOptions.timingCachePath` says.
    public var timingCacheDirectory: String?

    /// Creates the backend; `builder` runs the program's engine-build child (`kiln build-engine` in Kiln).
    public init(deviceIndex: Int = 0, builder: IsolatedBuilder, timingCacheDirectory: String? = nil) {
        self.deviceIndex = deviceIndex
        self.builder = builder
        self.timingCacheDirectory = timingCacheDirectory
    }

    /// The TensorRT version engines would be built with: the bridge's library when it has headers,
    /// else the installed libnvinfer (which trtexec uses).
    public func tensorRTVersion() throws -> TensorRTVersion {
        if TensorRTLibrary.compiledWithHeaders { return try TensorRTLibrary().version }
        if TrtexecCommand.locate() != nil { return try EngineBuildChild.trtexecVersion(TrtexecCommand.locate()!) }
        throw Self.unavailableError
    }

    /// The error when neither the bridge nor trtexec can build.
    static let unavailableError = TensorRTError(.unavailable,
        "TensorRT unavailable: Kiln was built without TensorRT headers and no trtexec was found (PATH or \(TrtexecCommand.jetpackPath)); on a Jetson install libnvinfer-dev and rebuild with TENSORRT_INCLUDE, or install trtexec; or use --backend reference")

    public func availability() -> BackendAvailability {
        if let reason = CUDA.unavailableReason() { return .unavailable(reason: reason) }
        if TensorRTLibrary.compiledWithHeaders {
            do { _ = try TensorRTLibrary() } catch { return .unavailable(reason: error.description) }
            return .available
        }
        return .unavailable(reason: Self.unavailableError.message)
    }

    /// The identity for TensorRT `version` (build `build`, using CUDA runtime `cudaRuntime`, e.g.
    /// 12020) on `device`: `tensorrt=<major.minor.patch[.build]>` plus the device's key fields, with
    /// `cuda` the runtime TensorRT uses where known. `package` (the installed libnvinfer package)
    /// supplies the build number and CUDA release the library cannot report, when it packages
    /// this very version.
    public static func identity(tensorrt version: TensorRTVersion, build: Int? = nil, cudaRuntime: Int? = nil,
                                package: TensorRTPackage? = nil, device: GPUDeviceIdentity) -> BackendIdentity {
        let package = package?.matching(version)
        var fields = device.cacheKeyFields
        fields["tensorrt"] = version.description + ((build ?? package?.build).map { ".\($0)" } ?? "")
        if let v = cudaRuntime {
            fields["cuda"] = "\(v / 1000).\(v % 1000 / 10)"
        } else if let release = package?.cuda {
            fields["cuda"] = release
        }
        return BackendIdentity(backend: "tensorrt", fields: fields)
    }

    public func identity() throws -> BackendIdentity {
        let device = try CUDADevice.query(deviceIndex).identity
        if TensorRTLibrary.compiledWithHeaders {
            let library = try TensorRTLibrary()
            return Self.identity(tensorrt: library.version, build: library.buildNumber, cudaRuntime: library.cudaRuntimeVersion,
                                 package: TensorRTPackage.installed(major: library.version.major), device: device)
        }
        let version = try tensorRTVersion()
        return Self.identity(tensorrt: version, package: TensorRTPackage.installed(major: version.major), device: device)
    }

    /// The timing cache file for `identity` in `directory`: one per TensorRT version and device.
    public static func timingCachePath(directory: String, identity: BackendIdentity) -> String {
        let f = identity.fields
        let device = (f["device"] ?? "gpu").map { $0.isLetter || $0.isNumber ? $0 : "-" }
        return "\(directory)/timing-trt\(f["tensorrt"] ?? "?")-sm\(f["sm"] ?? "?")-\(f["sm_count"] ?? "?")-\(String(device)).cache"
    }

    public func build(model: ModelSource, options: BuildOptions) throws -> EngineArtifact {
        let id = try identity()
        var options = options
        if options.timingCachePath == nil, let dir = timingCacheDirectory {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            options.timingCachePath = Self.timingCachePath(directory: dir, identity: id)
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-trt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let modelPath = work.appendingPathComponent("model.onnx").path
        guard FileManager.default.createFile(atPath: modelPath, contents: Data(model.bytes)) else {
            throw TensorRTError(.buildFailed, "cannot stage \(model.name) for the builder in \(work.path)")
        }
        let device = try CUDADevice.query(deviceIndex)
        var request = EngineBuildRequest(modelPath: modelPath, enginePath: work.appendingPathComponent("model.plan").path, options: options,
                                         method: TensorRTLibrary.compiledWithHeaders ? .bridge : .trtexec)
        request.computeCapability = device.computeCapability
        // Free memory without holding a CUDA context through the build (on Jetson a context costs
        // hundreds of MB the child's builder then lacks): the context is released before the child starts.
        let free: Int? = try device.integrated ? Self.availableHostMemory() : {
            let context = try CUDAContext(device: deviceIndex)
            return try context.memoryInfo().free
        }()
        // The child builds on this device whatever cudart would number it: CUDA_VISIBLE_DEVICES by UUID.
        var builder = builder
        if device.uuid.hasPrefix("GPU-") { builder.environment["CUDA_VISIBLE_DEVICES"] = device.uuid }
        // The phases of the monitor (TensorRT >= 10) or the log's milestones (8.x) feed the build's progress.
        let progress = ProgressHub.shared.begin(.build, subject: model.name, unit: .phases, backend: name)
        var built = false
        defer { progress.finish(built ? .succeeded : .failed) }
        var phases = TensorRTBuildProgress()
        let result = try builder.build(request, freeMemoryBytes: free) { event in
            if let position = phases.consume(event) {
                progress.enterPhase(position.name, index: position.done + 1, count: position.total)
            }
            if event.event == "log", let m = event.message, (event.severity ?? 4) <= 1 {
                Log.warning("TensorRT (\(model.name)): \(m)")
            }
        }
        built = true
        Log.notice("built \(model.name) with TensorRT \(result.tensorrtVersion ?? "?") (\(result.method ?? "?")) in \(Int(result.seconds)) s, workspace \(result.workspaceBytes >> 20) MiB" +
                   (result.attempts.count > 1 ? " after \(result.attempts.count - 1) memory retries" : ""))
        return EngineArtifact(bytes: result.plan, identity: id, workspaceBytes: result.workspaceBytes, buildSeconds: result.seconds)
    }

    public func load(_ artifact: EngineArtifact, options: BuildOptions) throws -> any InferenceRunner {
        let id = try identity()
        guard artifact.identity == id else {
            throw InvalidModelError("engine built for \(artifact.identity) cannot run here (\(id)); rebuild it")
        }
        guard TensorRTLibrary.compiledWithHeaders else {
            throw TensorRTError(.unavailable, "running TensorRT engines needs Kiln built with TensorRT headers (set TENSORRT_INCLUDE and CUDA_INCLUDE, or build on a Jetson with libnvinfer-dev)")
        }
        return try TensorRTRunner(library: try TensorRTLibrary(), plan: artifact.bytes, context: try CUDAContext(device: deviceIndex),
                                  dlaCore: options.dlaCore)
    }

    /// `MemAvailable` from /proc/meminfo: what an integrated GPU can really allocate.
    static func availableHostMemory() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }
}
