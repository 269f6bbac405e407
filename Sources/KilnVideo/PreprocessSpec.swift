import KilnCore

/// How a frame becomes a model input tensor: geometry, channel order, normalisation, output type.
///
/// The arithmetic, which the GPU kernel reproduces exactly:
/// - `r = min(W/w, H/h)` for letterbox (`W×H` the model input, `w×h` the frame); the content is
///   `nw = round(w·r)` × `nh = round(h·r)` placed at `(padX, padY) = ((W−nw)/2, (H−nh)/2)` (integer
///   division); the rest is `padValue`. Stretch uses `nw = W`, `nh = H`, no padding.
/// - Bilinear sampling with half-pixel centres (OpenCV `INTER_LINEAR`, torch `align_corners=False`):
///   `sx = (x + 0.5)·(w/nw) − 0.5` clamped to `[0, w−1]`, neighbours `floor(sx)` and `min(floor(sx)+1, w−1)`;
///   likewise for y. Interpolation is done in float32 on 0–255 values: horizontal then vertical.
/// - Normalisation per output channel `c`: `out = (v/255 − mean[c]) / std[c]`, computed as
///   `v·a[c] + b[c]` with `a = 1/(255·std)`, `b = −mean/std`. Padding uses `v = padValue`.
/// - Output is NCHW; `channelOrder` says whether channel 0 is R (`.rgb`) or B (`.bgr`).
public struct PreprocessSpec: Sendable, Codable, Equatable {
    /// How the frame is fitted into the model input.
    public enum Resize: String, Sendable, Codable {
        /// Keep the aspect ratio and pad (YOLO-style letterbox).
        case letterbox
        /// Scale each axis independently to fill the input.
        case stretch
    }

    /// Which colour the first output channel holds.
    public enum ChannelOrder: String, Sendable, Codable {
        /// R, G, B.
        case rgb
        /// B, G, R (OpenCV- and Caffe-trained models).
        case bgr
    }

    /// Model input width.
    public var width: Int
    /// Model input height.
    public var height: Int
    /// Letterbox or stretch.
    public var resize: Resize
    /// Output channel order.
    public var channelOrder: ChannelOrder
    /// Per-channel mean, in 0–1 units, in output channel order.
    public var mean: [Float]
    /// Per-channel standard deviation, in 0–1 units, in output channel order.
    public var std: [Float]
    /// The 0–255 value padding is filled with before normalisation (114 for YOLO).
    public var padValue: Float
    /// float32 or float16 output.
    public var outputType: ElementTypeName

    /// The output element types preprocessing can produce.
    public enum ElementTypeName: String, Sendable, Codable {
        /// 32-bit float.
        case float32
        /// IEEE half.
        case float16
    }

    /// Creates a spec; defaults are letterbox, RGB, mean 0, std 1 (i.e. v/255), pad 114, float32.
    public init(width: Int, height: Int, resize: Resize = .letterbox, channelOrder: ChannelOrder = .rgb,
                mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1], padValue: Float = 114,
                outputType: ElementTypeName = .float32) {
        self.width = width
        self.height = height
        self.resize = resize
        self.channelOrder = channelOrder
        self.mean = mean
        self.std = std
        self.padValue = padValue
        self.outputType = outputType
    }

    /// ImageNet normalisation (mean 0.485/0.456/0.406, std 0.229/0.224/0.225), in `order`.
    public static func imageNet(width: Int, height: Int, order: ChannelOrder = .rgb, resize: Resize = .stretch) -> PreprocessSpec {
        var mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
        if order == .bgr { mean.reverse(); std.reverse() }
        return PreprocessSpec(width: width, height: height, resize: resize, channelOrder: order, mean: mean, std: std, padValue: 0)
    }

    /// The geometry for a `frameWidth`×`frameHeight` frame.
    public func geometry(frameWidth w: Int, frameHeight h: Int) -> LetterboxGeometry {
        switch resize {
        case .stretch: .stretch(frameWidth: w, frameHeight: h, inputWidth: width, inputHeight: height)
        case .letterbox: .letterbox(frameWidth: w, frameHeight: h, inputWidth: width, inputHeight: height)
        }
    }
}
