import KilnCore

extension LetterboxGeometry {
    /// Maps a box in input pixels back to frame pixels, clipped to the frame.
    public func toFrame(_ b: Box) -> Box {
        let sx = Float(scaleX), sy = Float(scaleY), px = Float(padX), py = Float(padY)
        func x(_ v: Float) -> Float { min(max((v - px) / sx, 0), Float(frameWidth)) }
        func y(_ v: Float) -> Float { min(max((v - py) / sy, 0), Float(frameHeight)) }
        return Box(x1: x(b.x1), y1: y(b.y1), x2: x(b.x2), y2: y(b.y2))
    }
}
