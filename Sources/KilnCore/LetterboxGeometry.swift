/// Where a frame's content lands in the model input, and the way back.
///
/// One type for both directions: the preprocessors draw the frame by it and postprocessing maps
/// boxes back to the frame with it, so both sides use the same arithmetic (a letterboxed frame's
/// resized size is rounded to whole pixels, as it is drawn).
public struct LetterboxGeometry: Sendable, Equatable, Codable {
    /// The frame's width in pixels.
    public var frameWidth: Int
    /// The frame's height in pixels.
    public var frameHeight: Int
    /// Width of the resized content in input pixels.
    public var contentWidth: Int
    /// Height of the resized content in input pixels.
    public var contentHeight: Int
    /// Left padding in input pixels.
    public var padX: Int
    /// Top padding in input pixels.
    public var padY: Int
    /// Input pixels per frame pixel, horizontally.
    public var scaleX: Double
    /// Input pixels per frame pixel, vertically.
    public var scaleY: Double

    /// The aspect-preserving letterbox of a `frameWidth`×`frameHeight` frame into an
    /// `inputWidth`×`inputHeight` input (Ultralytics style): one scale for both axes, the content
    /// rounded to whole pixels (at least one), centred with the padding split evenly.
    public static func letterbox(frameWidth w: Int, frameHeight h: Int, inputWidth: Int, inputHeight: Int) -> LetterboxGeometry {
        let r = min(Double(inputWidth) / Double(w), Double(inputHeight) / Double(h))
        let nw = max(1, min(inputWidth, Int((Double(w) * r).rounded())))
        let nh = max(1, min(inputHeight, Int((Double(h) * r).rounded())))
        return LetterboxGeometry(frameWidth: w, frameHeight: h, contentWidth: nw, contentHeight: nh,
                                 padX: (inputWidth - nw) / 2, padY: (inputHeight - nh) / 2,
                                 scaleX: Double(nw) / Double(w), scaleY: Double(nh) / Double(h))
    }

    /// A plain resize of a frame to the whole input, each axis scaled on its own.
    public static func stretch(frameWidth w: Int, frameHeight h: Int, inputWidth: Int, inputHeight: Int) -> LetterboxGeometry {
        LetterboxGeometry(frameWidth: w, frameHeight: h, contentWidth: inputWidth, contentHeight: inputHeight, padX: 0, padY: 0,
                          scaleX: Double(inputWidth) / Double(w), scaleY: Double(inputHeight) / Double(h))
    }

    /// Maps a point in model-input coordinates back to frame coordinates.
    public func toFrame(x: Double, y: Double) -> (x: Double, y: Double) {
        ((x - Double(padX)) / scaleX, (y - Double(padY)) / scaleY)
    }
}
