import KilnCore
import KilnCUDA
import KilnInference

/// Runs a TensorRT engine on named host or device tensors.
///
/// A device input (`TensorValue.device`, e.g. the GPU preprocessor's output) on the engine's GPU
/// is bound at its address directly: no copy. Host inputs are staged in pinned host memory; on integrated GPUs (Jetson) that memory is mapped and
/// bound directly (zero-copy), on discrete GPUs it is copied to device buffers. Dynamic inputs get
/// `setInputShape` per call; output shapes are read back from the context, or, for outputs whose
/// shape depends on the data (NonZero, NMS; TensorRT >= 10), reported by TensorRT during the run,
/// which asks for their memory then (`IOutputAllocator`). Buffers grow as needed and are reused.
/// One thread at a time (the loop's inference thread).
// unchecked: confined: the engine slot hands a runner to one inference thread at a time.
public final class TensorRTRunner: InferenceRunner, @unchecked Sendable {
    public let inputs: [TensorDescriptor]
    public let outputs: [TensorDescriptor]
    /// The engine and its execution context.
    let engine: TensorRTEngine
    /// The CUDA context buffers live in.
    let context: CUDAContext
    /// The stream copies and inference are queued on.
    let stream: CUDAStream
    /// True on integrated GPUs: tensors are bound as mapped pinned memory.
    let zeroCopy: Bool
    private var host: [String: PinnedHostBuffer] = [:]
    private var device: [String: DeviceBuffer] = [:]
    /// Outputs routed through an output allocator (data-dependent shapes).
    private var allocated: Set<String> = []

    /// Loads `plan` into an engine on `context`'s device (on `dlaCore` for a DLA engine).
    public init(library: TensorRTLibrary, plan: [UInt8], context: CUDAContext, dlaCore: Int? = nil) throws {
        self.context = context
        try context.makeCurrent()
        engine = try TensorRTEngine(library: library, plan: plan, dlaCore: dlaCore)
        stream = try CUDAStream(context: context)
        zeroCopy = context.device.integrated && context.device.canMapHostMemory
        let io = try engine.io()
        func descriptor(_ t: TensorRTEngine.IO) throws -> TensorDescriptor {
            guard let type = t.elementType else { throw TensorRTError(.executionFailed, "engine tensor '\(t.name)' has a type Kiln cannot exchange") }
            return TensorDescriptor(name: t.name, elementType: type, shape: t.dims.map { $0 < 0 ? nil : $0 })
        }
        inputs = try io.filter(\.isInput).map(descriptor)
        outputs = try io.filter { !$0.isInput }.map(descriptor)
    }

    private func buffers(_ name: String, bytes: Int) throws -> (PinnedHostBuffer, UInt64) {
        if let h = host[name], h.byteCount >= bytes {
            return (h, zeroCopy ? h.deviceAddress! : device[name]!.address)
        }
        host[name] = nil
        device[name] = nil
        let h = try PinnedHostBuffer(context: context, byteCount: max(bytes, 256), mapped: zeroCopy)
        host[name] = h
        if zeroCopy { return (h, h.deviceAddress!) }
        let d = try DeviceBuffer(context: context, byteCount: max(bytes, 256))
        device[name] = d
        return (h, d.address)
    }

    /// Device memory of at least `bytes` for output `name`, which TensorRT asks for during a run
    /// (data-dependent shapes); nil when it cannot be allocated (the run then fails with TensorRT's error).
    func outputMemory(_ name: String, bytes: Int) -> UnsafeMutableRawPointer? {
        guard let (_, address) = try? buffers(name, bytes: bytes) else { return nil }
        return UnsafeMutableRawPointer(bitPattern: UInt(address))
    }

    /// Device: inputs on this engine's GPU are bound in place.
    public var inputMemory: TensorMemory { .device }

    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        try run(values: feeds.mapValues { .host($0) })
    }

    public func run(values feeds: [String: TensorValue]) throws -> [String: Tensor] {
        try context.makeCurrent()
        for input in inputs {
            guard var tensor = feeds[input.name] else {
                throw RuntimeError("TensorRT: input '\(input.name)' is missing; the engine takes \(inputs.map(\.name))")
            }
            if case .host(let host) = tensor, host.elementType != input.elementType {
                // TensorRT 8 runs int64/double inputs as int32/float: convert the model-typed feed.
                tensor = .host(try TensorRTFeedConversion.convert(host, to: input.elementType, input: input.name,
                                                                  version: engine.library.version))
            }
            guard tensor.elementType == input.elementType else {
                throw RuntimeError("TensorRT: input '\(input.name)' is \(tensor.elementType); the engine takes \(input.elementType)")
            }
            guard tensor.shape.count == input.shape.count,
                  zip(tensor.shape, input.shape).allSatisfy({ $1 == nil || $0 == $1 }) else {
                throw RuntimeError("TensorRT: input '\(input.name)' has shape \(tensor.shape); the engine takes \(input.shape.map { $0.map(String.init) ?? "?" })")
            }
            if input.shape.contains(where: { $0 == nil }) { try engine.setInputShape(input.name, tensor.shape) }
            if case .device(let d) = tensor {
                if d.storage.deviceIndex == context.device.index {
                    try engine.setAddress(input.name, d.address)
                    continue
                }
                tensor = .host(try d.download())  // another GPU's memory: one copy through the host
            }
            let bytes = try tensor.hostTensor().bytes
            let (h, address) = try buffers(input.name, bytes: bytes.count)
            bytes.withUnsafeBytes { h.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            if !zeroCopy { try device[input.name]!.upload(from: h.pointer, count: bytes.count, stream: stream) }
            try engine.setAddress(input.name, address)
        }
        var shapes: [String: [Int]] = [:]
        var dataDependent: [String] = []
        for output in outputs {
            let shape = try engine.shape(output.name)
            guard shape.allSatisfy({ $0 >= 0 }) else {
                // Known only once the run computed it: TensorRT asks `outputMemory` for the memory.
                if !allocated.contains(output.name) {
                    try engine.setOutputAllocator(output.name, user: Unmanaged.passUnretained(self).toOpaque()) { user, name, size in
                        guard let user, let name else { return nil }
                        return Unmanaged<TensorRTRunner>.fromOpaque(user).takeUnretainedValue().outputMemory(String(cString: name), bytes: Int(size))
                    }
                    allocated.insert(output.name)
                }
                dataDependent.append(output.name)
                continue
            }
            shapes[output.name] = shape
            let (_, address) = try buffers(output.name, bytes: shape.reduce(1, *) * output.elementType.byteWidth)
            try engine.setAddress(output.name, address)
        }
        try engine.enqueue(stream: stream.handle)
        for name in dataDependent { shapes[name] = try engine.outputShape(name) }
        var result: [String: Tensor] = [:]
        for output in outputs {
            let shape = shapes[output.name]!
            let bytes = shape.reduce(1, *) * output.elementType.byteWidth
            guard bytes > 0 else {
                result[output.name] = Tensor(elementType: output.elementType, shape: shape, bytes: [])
                continue
            }
            guard let h = host[output.name], h.byteCount >= bytes else {
                throw RuntimeError("TensorRT: output '\(output.name)' of shape \(shape) was written without memory Kiln allocated")
            }
            if !zeroCopy { try device[output.name]!.download(to: h.pointer, count: bytes, stream: stream) }
            try stream.synchronize()
            result[output.name] = Tensor(elementType: output.elementType, shape: shape,
                                         bytes: [UInt8](UnsafeRawBufferPointer(start: h.pointer, count: bytes)))
        }
        try stream.synchronize()
        return result
    }
}
