import Glibc
import KilnAgent
import KilnCore
import KilnCUDA
import KilnInference
import KilnTensorRT

/// Whether each backend can run here, and why not: the one place `kiln doctor` and `kiln cache gc`
/// learn about backends.
///
/// Every backend of `BackendCatalog.standard(engineBuildChild: .kiln)` reports its own availability and identity; while
/// TensorRT is unavailable, the libnvinfer probe and the bridge's headers say why, and
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
        var result = BackendCatalog.standard(engineBuildChild: .kiln).backends.map(status)
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
                let bridge = backend.name == "tensorrt" ? "; bridge: \(TensorRTLibrary.bridgeDescription)" : ""
                return Status(name: backend.name, available: true, detail: identity.description + bridge, identity: identity)
            } catch {
                return Status(name: backend.name, available: false, detail: "identity unavailable: \(error)", identity: nil)
            }
        case .unavailable(let reason):
            var detail = reason
            if backend.name == "tensorrt" {
                // The probe names the library and the bridge's headers; the backend's reason adds
                // something only when it is not the same load failure (CUDA missing, for one).
                let probe = tensorRT().detail
                detail = probe.contains(reason) || reason.contains(probe) ? probe : probe + "; " + reason
            }
            return Status(name: backend.name, available: false, detail: detail, identity: nil)
        }
    }

    /// Whether libnvinfer can be loaded, its version, and what the bridge was compiled against.
    static func tensorRT() -> Status {
        let bridge = "bridge: \(TensorRTLibrary.bridgeDescription)"
        do {
            let probed = try TensorRTLibrary.probe()
            return Status(name: "tensorrt", available: true, detail: "\(probed.library) \(probed.version); \(bridge)", identity: nil)
        } catch {
            return Status(name: "tensorrt", available: false, detail: "\(error.message); \(bridge)", identity: nil)
        }
    }

    /// The CUDA driver and GPU 0, through KilnCUDA.
    static func cuda() -> Status {
        if let reason = CUDA.unavailableReason() {
            return Status(name: "cuda", available: false, detail: reason, identity: nil)
        }
        guard let identity = try? CUDADevice.query(0).identity else {
            return Status(name: "cuda", available: false, detail: "device 0 cannot be queried", identity: nil)
        }
        return Status(name: "cuda", available: true,
                      detail: identity.summary + " (" + CUDA.loadedLibraries().joined(separator: ", ") + ")",
                      identity: nil)
    }

    /// The CUDA device query for detection: GPU 0, or `nil` without a driver or device.
    static func gpu() -> GPUDeviceIdentity? {
        guard CUDA.unavailableReason() == nil else { return nil }
        return try? CUDADevice.query(0).identity
    }
}
