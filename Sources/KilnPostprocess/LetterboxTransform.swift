/// How a source frame was mapped into the model input, so boxes can be mapped back.
///
/// Input = source × scale + pad, per axis. Letterboxing (Ultralytics style) uses one scale for
/// both axes and centres the picture with padding; stretching scales each axis independently.
public struct LetterboxTransform: Sendable, Equatable {
    /// Source frame width in pixels.
    public var sourceWidth: Int
    /// Source frame height in pixels.
    public var sourceHeight: Int
    /// Horizontal scale from source to input.
    public var scaleX: Float
    /// Vertical scale from source to input.
    public var scaleY: Float
    /// Left padding in input pixels.
    public var padX: Float
    /// Top padding in input pixels.
    public var padY: Float

    /// Creates an explicit transform.
    public init(sourceWidth: Int, sourceHeight: Int, scaleX: Float, scaleY: Float, padX: Float, padY: Float) {
        self.sourceWidth = sourceWidth
        self.sourceHeight = sourceHeight
        self.scaleX = scaleX
        self.scaleY = scaleY
        self.padX = padX
        self.padY = padY
    }

    /// The aspect-preserving, centred letterbox of a source into an input of the given size.
    public static func letterbox(sourceWidth: Int, sourceHeight: Int, inputWidth: Int, inputHeight: Int) -> LetterboxTransform {
        let scale = min(Float(inputWidth) / Float(sourceWidth), Float(inputHeight) / Float(sourceHeight))
        return LetterboxTransform(
            sourceWidth: sourceWidth, sourceHeight: sourceHeight, scaleX: scale, scaleY: scale,
            padX: (Float(inputWidth) - Float(sourceWidth) * scale) / 2, padY: (Float(inputHeight) - Float(sourceHeight) * scale) / 2)
    }

    /// A plain resize (no padding) of a source to an input.
    public static func stretch(sourceWidth: Int, sourceHeight: Int, inputWidth: Int, inputHeight: Int) -> LetterboxTransform {
        LetterboxTransform(
            sourceWidth: sourceWidth, sourceHeight: sourceHeight,
            scaleX: Float(inputWidth) / Float(sourceWidth), scaleY: Float(inputHeight) / Float(sourceHeight), padX: 0, padY: 0)
    }

    /// Maps a box in input pixels back to source pixels, clipped to the frame.
    public func toSource(_ b: Box) -> Box {
        func x(_ v: Float) -> Float { min(max((v - padX) / scaleX, 0), Float(sourceWidth)) }
        func y(_ v: Float) -> Float { min(max((v - padY) / scaleY, 0), Float(sourceHeight)) }
        return Box(x1: x(b.x1), y1: y(b.y1), x2: x(b.x2), y2: y(b.y2))
    }
}
