/// What the GPU preprocessing kernel computes for one frame size: the geometry and normalisation
/// of `KilnVideo.PreprocessSpec`, already resolved to numbers.
///
/// `a[c] = 1/(255·std[c])`, `b[c] = −mean[c]/std[c]` and the pad `padValue·a[c] + b[c]` are computed in
/// Float exactly as `KilnVideo.CPUPreprocessor` does, so both sides use the same constants.
/// `KilnVideo`'s `PreprocessSpec.gpuParameters(frameWidth:frameHeight:)` builds these from a spec.
public struct GPUPreprocessParameters: Sendable, Equatable {
    /// Model input width.
    public var width: Int
    /// Model input height.
    public var height: Int
    /// Width of the resized content inside the input.
    public var contentWidth: Int
    /// Height of the resized content.
    public var contentHeight: Int
    /// Left padding.
    public var padX: Int
    /// Top padding.
    public var padY: Int
    /// True when output channel 0 is blue.
    public var outputBGR: Bool
    /// Per-channel mean (0–1 units), in output channel order.
    public var mean: [Float]
    /// Per-channel standard deviation, in output channel order.
    public var std: [Float]
    /// 0–255 value of padding before normalisation.
    public var padValue: Float
    /// float16 output when true, else float32.
    public var half: Bool

    /// Creates parameters from resolved geometry.
    public init(width: Int, height: Int, contentWidth: Int, contentHeight: Int, padX: Int, padY: Int,
                outputBGR: Bool = false, mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1], padValue: Float = 114,
                half: Bool = false) {
        self.width = width
        self.height = height
        self.contentWidth = contentWidth
        self.contentHeight = contentHeight
        self.padX = padX
        self.padY = padY
        self.outputBGR = outputBGR
        self.mean = mean
        self.std = std
        self.padValue = padValue
        self.half = half
    }

    /// Per-channel multiplier, offset and normalised pad value.
    public var coefficients: (a: [Float], b: [Float], pad: [Float]) {
        let a = (0..<3).map { c in 1 / (255 * std[c]) }
        let b = (0..<3).map { c in -mean[c] / std[c] }
        let pad = (0..<3).map { c in padValue * a[c] + b[c] }
        return (a, b, pad)
    }

    /// Bytes of one output tensor (3 × height × width elements).
    public var outputBytesPerFrame: Int { 3 * width * height * (half ? 2 : 4) }

    /// Checks the parameters, naming the bad field.
    func validate(frameWidth: Int, frameHeight: Int) throws(CUDAError) {
        guard frameWidth > 0, frameHeight > 0 else { throw .invalidArgument("GPU preprocess: frame size \(frameWidth)x\(frameHeight) must be positive") }
        guard width > 0, height > 0, contentWidth > 0, contentHeight > 0, padX >= 0, padY >= 0,
              padX + contentWidth <= width, padY + contentHeight <= height
        else {
            throw .invalidArgument("GPU preprocess: content \(contentWidth)x\(contentHeight) at (\(padX),\(padY)) does not fit the \(width)x\(height) input")
        }
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 != 0 }) else {
            throw .invalidArgument("GPU preprocess: mean and std need 3 values each and std must be non-zero (got mean \(mean), std \(std))")
        }
    }
}
