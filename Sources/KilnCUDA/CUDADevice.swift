import KilnCore

/// One CUDA device: its ordinal, what it is (`identity`, whose fields read as the device's own:
/// `device.name`, `device.computeCapability`, `device.integrated`) and what only the driver needs.
@dynamicMemberLookup
public struct CUDADevice: Sendable, Equatable {
    /// The device ordinal.
    public var index: Int
    /// What the device is: name, UUID, compute capability, memory, SMs, driver and NVRTC versions.
    public var identity: GPUDeviceIdentity
    /// Whether host memory can be mapped into the device (zero-copy).
    public var canMapHostMemory: Bool
    /// L2 cache bytes.
    public var l2CacheBytes: Int
    /// PCI domain:bus, for logs.
    public var pciBus: String

    /// Queries device `index` through the driver API.
    public static func query(_ index: Int = 0) throws(CUDAError) -> CUDADevice {
        let api = try CUDA.driver()
        let count = try CUDA.deviceCount()
        guard index >= 0, index < count else { throw .noDevice(index: index, count: count) }
        var dev: Int32 = 0
        try api.check(api.cuDeviceGet(&dev, Int32(index)), "cuDeviceGet(\(index))")
        var nameBuffer = [CChar](repeating: 0, count: 256)
        try api.check(api.cuDeviceGetName(&nameBuffer, 255, dev), "cuDeviceGetName(\(index))")
        var uuid = [UInt8](repeating: 0, count: 16)
        try api.check(api.cuDeviceGetUuid(&uuid, dev), "cuDeviceGetUuid(\(index))")
        var total = 0
        try api.check(api.cuDeviceTotalMem(&total, dev), "cuDeviceTotalMem(\(index))")
        func attribute(_ a: CUDeviceAttribute) throws(CUDAError) -> Int {
            var value: Int32 = 0
            try api.check(api.cuDeviceGetAttribute(&value, a.rawValue, dev), "cuDeviceGetAttribute(\(a), device \(index))")
            return Int(value)
        }
        let hex = uuid.map { byte in String(byte, radix: 16).leftPadded(2) }
        let uuidText = "GPU-" + [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
        // NVRTC being absent is not an error here: `runtimeVersion` is then empty.
        let nvrtc = (try? CUDA.nvrtcVersion()).map { "\($0.major).\($0.minor)" } ?? ""
        let identity = GPUDeviceIdentity(
            name: String(decoding: nameBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), uuid: uuidText,
            computeCapability: ComputeCapability(major: try attribute(.computeCapabilityMajor), minor: try attribute(.computeCapabilityMinor)),
            totalMemoryBytes: total, integrated: try attribute(.integrated) != 0,
            multiprocessorCount: try attribute(.multiprocessorCount), driverVersion: try CUDA.driverVersion(), runtimeVersion: nvrtc)
        return CUDADevice(
            index: index, identity: identity, canMapHostMemory: try attribute(.canMapHostMemory) != 0,
            l2CacheBytes: try attribute(.l2CacheSize),
            pciBus: "\(String(try attribute(.pciDomainID), radix: 16).leftPadded(4)):\(String(try attribute(.pciBusID), radix: 16).leftPadded(2))")
    }

    /// A field of the device's `identity`, read as the device's own (`device.name`).
    public subscript<Value>(dynamicMember field: KeyPath<GPUDeviceIdentity, Value>) -> Value { identity[keyPath: field] }

    /// The compiler target for this device: `sm_90`.
    public var smTarget: String { "sm_\(identity.sm)" }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
