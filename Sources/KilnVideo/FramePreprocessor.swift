import KilnCore

/// Turns one frame into the engine's input tensor: on the CPU or on the GPU.
///
/// An instance belongs to one preprocess thread (GPU ones hold that thread's CUDA context
/// current), and is replaced when the engine's `PreprocessSpec` changes.
public protocol FramePreprocessor: AnyObject {
    /// The spec it implements.
    var spec: PreprocessSpec { get }
    /// The `[1, 3, H, W]` input tensor for `frame` in host memory, and where the frame landed in it.
    func tensor(for frame: Frame) throws -> (Tensor, LetterboxGeometry)
    /// The input tensor for `frame`, in `memory` when this preprocessor can produce it there
    /// (a GPU preprocessor asked for `.device` keeps it on the GPU), else in host memory.
    func value(for frame: Frame, memory: TensorMemory) throws -> (TensorValue, LetterboxGeometry)
    /// Where host tensors it made go back once inference has used them, for its next frames.
    /// (No default: a conformer's stored pool must be the witness, never a silent "no pool".)
    var tensorPool: ByteBufferPool { get }
}

extension FramePreprocessor {
    /// A host-only preprocessor's input tensor, whatever memory was asked for.
    public func value(for frame: Frame, memory: TensorMemory) throws -> (TensorValue, LetterboxGeometry) {
        let (tensor, geometry) = try tensor(for: frame)
        return (.host(tensor), geometry)
    }
}

extension CPUPreprocessor: FramePreprocessor {}

extension GPUFramePreprocessor: FramePreprocessor {
    /// Preprocesses one frame on the GPU and downloads the tensor.
    public func tensor(for frame: Frame) throws -> (Tensor, LetterboxGeometry) {
        try tensor(for: [frame])
    }
}
