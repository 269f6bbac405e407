import KilnCore
import KilnCUDA

/// Preprocesses batches of frames on the GPU with `PreprocessSpec`'s arithmetic, in one kernel pass.
///
/// Frames are staged in pinned host memory; on integrated GPUs (Jetson) that memory is mapped and
/// the kernel reads it in place (zero-copy), on discrete GPUs it is copied once to device memory.
/// `value(for:memory: .device)` leaves the output on the device, in a buffer lent from a fixed
/// `GPUTensorPool`, ready to be bound as a TensorRT input; `.host` downloads it exactly once.
/// Buffers grow to the largest batch seen and are reused. One instance belongs to one thread
/// (the loop's preprocessing/inference thread).
// unchecked: confined: the frame loop makes one per preprocessing thread and uses it only there.
public final class GPUFramePreprocessor: @unchecked Sendable {
    /// The spec implemented.
    public let spec: PreprocessSpec
    /// The kernels (and how they were obtained: compiled or from the cubin cache).
    public let kernels: GPUPreprocessor
    /// The stream all work is queued on.
    public let stream: CUDAStream
    private var staging: PinnedHostBuffer?
    private var input: DeviceBuffer?
    private var output: DeviceBuffer?
    private var lastBatch = 0
    private var outputs: GPUTensorPool?
    /// Host tensors (the `.host` path's one download) given back after inference, reused.
    public let tensorPool = ByteBufferPool(limit: 8)
    /// True when the kernel reads the pinned staging memory in place instead of a device copy.
    public let zeroCopy: Bool
    /// Device output buffers lent out at once by `value(for:memory:)` (the frames between this
    /// preprocessor and the end of inference); one more waits until a tensor is released.
    public let outputBuffers: Int

    /// Prepares GPU preprocessing for `spec` in `context` (compiles or loads the kernels).
    ///
    /// `zeroCopy` defaults to the device being integrated (Jetson) and able to map host memory;
    /// forcing it on a discrete GPU reads the frames over PCIe (useful to test the Jetson path).
    public init(spec: PreprocessSpec, context: CUDAContext, compiler: NVRTCCompiler = NVRTCCompiler(cache: .defaultCache()),
                zeroCopy: Bool? = nil, outputBuffers: Int = 4) throws {
        self.spec = spec
        self.outputBuffers = max(1, outputBuffers)
        self.zeroCopy = context.device.canMapHostMemory && (zeroCopy ?? context.device.integrated)
        kernels = try GPUPreprocessor(context: context, compiler: compiler)
        stream = try CUDAStream(context: context)
    }

    /// The device address of the last batch's NCHW output.
    public var outputAddress: CUdeviceptr? { output?.address }

    /// Preprocesses `frames` (rgb24 or bgr24, all the same size and format) into the device output.
    ///
    /// Returns the geometry; the work is complete on the stream when this returns (synchronised),
    /// so the caller can bind `outputAddress` on another stream.
    @discardableResult
    public func run(_ frames: [Frame]) throws -> LetterboxGeometry {
        guard let first = frames.first else { throw RuntimeError("GPU preprocess: empty batch") }
        let outBytes = spec.gpuParameters(frameWidth: first.width, frameHeight: first.height).outputBytesPerFrame * frames.count
        if (output?.byteCount ?? 0) < outBytes { output = nil; output = try DeviceBuffer(context: kernels.context, byteCount: outBytes) }
        return try run(frames, into: output!.address)
    }

    /// Preprocesses `frames` into device memory at `destination` and waits for the stream.
    private func run(_ frames: [Frame], into destination: CUdeviceptr) throws -> LetterboxGeometry {
        guard let first = frames.first else { throw RuntimeError("GPU preprocess: empty batch") }
        for f in frames {
            guard f.format == .rgb24 || f.format == .bgr24 else {
                throw RuntimeError("GPU preprocess: frame \(f.index) of \(f.stream) is \(f.format.rawValue); expected rgb24 or bgr24")
            }
            guard f.width == first.width, f.height == first.height, f.format == first.format else {
                throw RuntimeError("GPU preprocess: frame \(f.index) of \(f.stream) is \(f.width)x\(f.height) \(f.format.rawValue); the batch is \(first.width)x\(first.height) \(first.format.rawValue)")
            }
            guard f.pixels.count >= f.width * f.height * 3 else {
                throw RuntimeError("GPU preprocess: frame \(f.index) of \(f.stream) has \(f.pixels.count) bytes for \(f.width)x\(f.height) RGB")
            }
        }
        let context = kernels.context
        let frameBytes = first.width * first.height * 3
        let inBytes = frameBytes * frames.count
        let params = spec.gpuParameters(frameWidth: first.width, frameHeight: first.height)
        if (staging?.byteCount ?? 0) < inBytes {
            staging = nil
            staging = try PinnedHostBuffer(context: context, byteCount: inBytes, mapped: zeroCopy)
            input = nil
        }
        if !zeroCopy, (input?.byteCount ?? 0) < inBytes { input = nil; input = try DeviceBuffer(context: context, byteCount: inBytes) }
        let stage = staging!
        for (i, f) in frames.enumerated() {
            f.pixels.withUnsafeBytes { (stage.pointer + i * frameBytes).copyMemory(from: $0.baseAddress!, byteCount: frameBytes) }
        }
        let source: CUdeviceptr
        if zeroCopy, let mapped = stage.deviceAddress {
            source = mapped
        } else {
            try input!.upload(from: stage.pointer, count: inBytes, stream: stream)
            source = input!.address
        }
        try kernels.enqueue(source: source, frameWidth: first.width, frameHeight: first.height, sourceIsBGR: first.format == .bgr24,
                            batch: frames.count, destination: destination, parameters: params, stream: stream)
        try stream.synchronize()
        lastBatch = frames.count
        return spec.geometry(frameWidth: first.width, frameHeight: first.height)
    }

    /// Preprocesses `frames` and copies the result to a `[N, 3, H, W]` host tensor.
    public func tensor(for frames: [Frame]) throws -> (Tensor, LetterboxGeometry) {
        let g = try run(frames)
        let count = frames.count * spec.gpuParameters(frameWidth: frames[0].width, frameHeight: frames[0].height).outputBytesPerFrame
        var bytes = tensorPool.take(count: count)
        try bytes.withUnsafeMutableBytes { raw in
            try output!.download(to: raw.baseAddress!, count: count, stream: stream)
            try stream.synchronize()
        }
        let type: ElementType = spec.outputType == .float16 ? .float16 : .float32
        return (Tensor(elementType: type, shape: [frames.count, 3, spec.height, spec.width], bytes: bytes), g)
    }

    /// Preprocesses one frame into `memory`: on the device, a tensor in a pooled buffer that the
    /// runner binds directly (no copy); on the host, the device output downloaded once.
    public func value(for frame: Frame, memory: TensorMemory) throws -> (TensorValue, LetterboxGeometry) {
        guard memory == .device else {
            let (tensor, geometry) = try tensor(for: [frame])
            return (.host(tensor), geometry)
        }
        let bytes = spec.gpuParameters(frameWidth: frame.width, frameHeight: frame.height).outputBytesPerFrame
        if outputs?.byteCount != bytes {
            outputs = nil
            outputs = try GPUTensorPool(context: kernels.context, byteCount: bytes, capacity: outputBuffers, mapped: zeroCopy)
        }
        let lease = try outputs!.acquire()
        let geometry = try run([frame], into: lease.deviceAddress)
        let type: ElementType = spec.outputType == .float16 ? .float16 : .float32
        return (.device(try DeviceTensor(elementType: type, shape: [1, 3, spec.height, spec.width], storage: lease)), geometry)
    }
}
