import Glibc
import KilnAgent
import KilnCore
import KilnCUDA
import KilnInference

/// Whether each backend can run here, and why not: the one place `kiln doctor` and `kiln cache gc`
/// learn about backends.
///
/// Every backend of `BackendCatalog.standard()` reports its own availability and identity; while
/// TensorRT is not in the catalog, a `dlopen` of libnvinfer says whether its library is there, and
/// CUDA is reported from KilnCUDA's driver loader and device query.
enum BackendProbe {
    /// One backend's status.
    struct Status: Codable, Sendable {
        /// `reference`, `tensorrt`, `cuda`.
        var name: String
        /// Usable here.
        var available: Bool
        /// The identity or version found, or why it is unavailable (`libnvinfer.so.10 not found`).
        var detail: String
        /// The identity engines built here are bound to, when known.
        var identity: BackendIdentity?
    }

    /// Probes every backend.
    static func statuses() -> [Status] {
        var result = BackendCatalog.standard().backends.map(status)
        if !result.contains(where: { $0.name == "tensorrt" }) { result.append(tensorRT()) }
        result.append(cuda())
        return result
    }

    /// The identities engines built on this device would carry now: what `kiln cache gc` keeps.
    ///
    /// Backends without an identity here (unavailable ones) are not judged by gc: their entries stay.
    static func currentIdentities() -> [BackendIdentity] {
        statuses().compactMap(\.identity)
    }

    /// A catalog backend's own availability and identity.
    static func status(_ backend: any InferenceBackend) -> Status {
        switch backend.availability() {
        case .available:
            do {
                let identity = try backend.identity()
                return Status(name: backend.name, available: true, detail: identity.description, identity: identity)
            } catch {
                return Status(name: backend.name, available: false, detail: "identity unavailable: \(error)", identity: nil)
            }
        case .unavailable(let reason):
            var detail = reason
            if backend.name == "tensorrt", !tensorRT().available { detail = tensorRT().detail + "; " + reason }
            return Status(name: backend.name, available: false, detail: detail, identity: nil)
        }
    }

    /// Whether libnvinfer can be loaded, and its version.
    static func tensorRT() -> Status {
        var tried: [String] = []
        for library in ["libnvinfer.so.10", "libnvinfer.so.8"] {
            guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
                tried.append(library)
                continue
            }
            defer { dlclose(handle) }
            var version = "version unknown"
            if let symbol = dlsym(handle, "getInferLibVersion") {
                typealias Fn = @convention(c) () -> Int32
                let v = Int(unsafeBitCast(symbol, to: Fn.self)())
                // TensorRT ≥ 10 encodes major*10000+minor*100+patch; 8.x major*1000+minor*100+patch.
                version = v >= 10_000 ? "\(v / 10_000).\(v / 100 % 100).\(v % 100)" : "\(v / 1000).\(v / 100 % 10).\(v % 100)"
            }
            return Status(name: "tensorrt", available: true, detail: "\(library) \(version)", identity: nil)
        }
        return Status(name: "tensorrt", available: false,
                      detail: "\(tried.first!) not found" + (tried.count > 1 ? " (nor \(tried.dropFirst().joined(separator: ", ")))" : ""),
                      identity: nil)
    }

    /// The CUDA driver and GPU 0, through KilnCUDA.
    static func cuda() -> Status {
        if let reason = CUDA.unavailableReason() {
            return Status(name: "cuda", available: false, detail: reason, identity: nil)
        }
        guard let device = try? CUDADevice.query(0), let identity = try? device.identity() else {
            return Status(name: "cuda", available: false, detail: "device 0 cannot be queried", identity: nil)
        }
        return Status(name: "cuda", available: true,
                      detail: identity.summary + " (" + CUDA.loadedLibraries().joined(separator: ", ") + ")",
                      identity: nil)
    }

    /// The CUDA device query for detection: GPU 0, or `nil` without a driver or device.
    static func gpu() -> GPUInfo? {
        guard CUDA.unavailableReason() == nil, let device = try? CUDADevice.query(0),
            let identity = try? device.identity()
        else { return nil }
        return GPUInfo(identity)
    }
}
