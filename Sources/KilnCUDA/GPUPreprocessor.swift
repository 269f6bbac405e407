import KilnCore
import Synchronization

/// Frame preprocessing on the GPU: one kernel launch turns a batch of uint8 HWC frames into the
/// model's NCHW float32/float16 input (see `PreprocessKernelSource`).
///
/// The kernels are compiled by NVRTC for this device's SM on first use and the cubin is cached
/// (`CubinCache`), so later starts load it without compiling. Use from one thread at a time.
public final class GPUPreprocessor: Sendable {
    /// The context the kernels are loaded in.
    public let context: CUDAContext
    /// How the kernels were obtained (compiled now or loaded from the cache).
    public let compilation: NVRTCCompiler.Output
    /// The loaded module holding all kernel variants.
    let module: CUDAModule
    /// The kernels by name (`kiln_preprocess_<f32|f16>_x<1|2>`).
    let kernels: [String: CUDAFunction]
    /// Output pixels per thread: 2 stores rows as 8-/4-byte vectors; 1 is the plain variant.
    public var pixelsPerThread: Int {
        get { pixelsPerThreadSetting.load(ordering: .relaxed) }
        set { pixelsPerThreadSetting.store(newValue, ordering: .relaxed) }
    }
    private let pixelsPerThreadSetting = Atomic<Int>(2)

    /// Compiles (or loads from `compiler`'s cache) the kernels for `context`'s device.
    public init(context: CUDAContext, compiler: NVRTCCompiler = NVRTCCompiler(cache: .defaultCache())) throws(CUDAError) {
        self.context = context
        let sm = context.device.computeCapability.sm
        compilation = try compiler.compile(source: PreprocessKernelSource.source, name: "kiln_preprocess.cu", sm: sm,
                                            options: ["--fmad=false"])
        module = try CUDAModule(context: context, image: compilation.image)
        var kernels: [String: CUDAFunction] = [:]
        for half in [false, true] {
            for px in [1, 2] {
                let name = PreprocessKernelSource.kernelName(half: half, pixelsPerThread: px)
                kernels[name] = try module.function(name)
            }
        }
        self.kernels = kernels
    }

    /// Queues preprocessing of `batch` frames at `source` (uint8 HWC, `sourcePitch` bytes per row,
    /// frames `sourceFrameStride` bytes apart) into `destination` (NCHW, frames back to back).
    public func enqueue(source: CUdeviceptr, frameWidth: Int, frameHeight: Int, sourcePitch: Int? = nil,
                        sourceFrameStride: Int? = nil, sourceIsBGR: Bool, batch: Int, destination: CUdeviceptr,
                        parameters p: GPUPreprocessParameters, stream: CUDAStream) throws(CUDAError) {
        try p.validate(frameWidth: frameWidth, frameHeight: frameHeight)
        guard batch > 0, batch <= 65535 else { throw .invalidArgument("GPU preprocess: batch \(batch) must be 1…65535") }
        let pitch = sourcePitch ?? frameWidth * 3
        let frameStride = sourceFrameStride ?? pitch * frameHeight
        guard pitch >= frameWidth * 3 else { throw .invalidArgument("GPU preprocess: pitch \(pitch) is below 3×width (\(frameWidth * 3))") }
        let (a, b, pad) = p.coefficients
        var block = [UInt8]()
        block.reserveCapacity(PreprocessKernelSource.parameterBytes)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { block.append(contentsOf: $0) } }
        func put(_ v: Float) { put(v.bitPattern) }
        put(UInt64(source))
        put(UInt64(destination))
        put(Int64(frameStride))
        put(Int64(3 * p.width * p.height))
        for v in [frameWidth, frameHeight, pitch, p.width, p.height, p.contentWidth, p.contentHeight, p.padX, p.padY] { put(Int32(v)) }
        put(Int32(sourceIsBGR != p.outputBGR ? 1 : 0))
        put(Float(frameWidth) / Float(p.contentWidth))
        put(Float(frameHeight) / Float(p.contentHeight))
        for v in a + b + pad { put(v) }
        put(Int32(batch))
        precondition(block.count == PreprocessKernelSource.parameterBytes, "parameter block layout drifted from the kernel's struct")
        let px = pixelsPerThread == 1 ? 1 : 2
        let kernel = kernels[PreprocessKernelSource.kernelName(half: p.half, pixelsPerThread: px)]!
        let threadsX = 32, threadsY = 8
        let columns = (p.width + px - 1) / px
        try kernel.launch(grid: ((columns + threadsX - 1) / threadsX, (p.height + threadsY - 1) / threadsY, batch),
                          block: (threadsX, threadsY, 1), stream: stream, argument: block)
    }

    /// Preprocesses host frames (each `frameWidth×frameHeight×3` bytes) and returns the output bytes.
    ///
    /// Allocates device buffers per call: meant for tests and one-off use; the frame loop keeps its
    /// buffers and calls `enqueue`.
    public func preprocess(frames: [[UInt8]], frameWidth: Int, frameHeight: Int, sourceIsBGR: Bool,
                           parameters: GPUPreprocessParameters) throws -> [UInt8] {
        let frameBytes = frameWidth * frameHeight * 3
        guard !frames.isEmpty else { throw CUDAError.invalidArgument("GPU preprocess: no frames given") }
        for (i, f) in frames.enumerated() where f.count != frameBytes {
            throw CUDAError.invalidArgument("GPU preprocess: frame \(i) has \(f.count) bytes, expected \(frameBytes) for \(frameWidth)x\(frameHeight) RGB")
        }
        let stream = try CUDAStream(context: context)
        let input = try DeviceBuffer(context: context, byteCount: frameBytes * frames.count)
        let outBytes = parameters.outputBytesPerFrame * frames.count
        let output = try DeviceBuffer(context: context, byteCount: outBytes)
        for (i, f) in frames.enumerated() {
            try f.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                try input.upload(from: raw.baseAddress!, count: frameBytes, offset: i * frameBytes, stream: stream)
            }
            try stream.synchronize()
        }
        try output.fill(0xFF, stream: stream)  // NaN everywhere: an element the kernel misses cannot pass a check.
        try enqueue(source: input.address, frameWidth: frameWidth, frameHeight: frameHeight, sourceIsBGR: sourceIsBGR,
                    batch: frames.count, destination: output.address, parameters: parameters, stream: stream)
        var result = [UInt8](repeating: 0, count: outBytes)
        try result.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer) in
            try output.download(to: raw.baseAddress!, count: outBytes, stream: stream)
            try stream.synchronize()
        }
        return result
    }
}
