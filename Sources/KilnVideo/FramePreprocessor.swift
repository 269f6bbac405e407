import KilnCore

/// Turns one frame into the engine's input tensor: on the CPU or on the GPU.
///
/// An instance belongs to one preprocess thread (GPU ones hold that thread's CUDA context
/// current), and is replaced when the engine's `PreprocessSpec` changes.
public protocol FramePreprocessor: AnyObject {
    /// The spec it implements.
    var spec: PreprocessSpec { get }
    /// The `[1, 3, H, W]` input tensor for `frame`, and where the frame landed in it.
    func tensor(for frame: Frame) throws -> (Tensor, LetterboxGeometry)
}

extension CPUPreprocessor: FramePreprocessor {}

extension GPUFramePreprocessor: FramePreprocessor {
    /// Preprocesses one frame on the GPU and downloads the tensor.
    public func tensor(for frame: Frame) throws -> (Tensor, LetterboxGeometry) {
        try tensor(for: [frame])
    }
}
