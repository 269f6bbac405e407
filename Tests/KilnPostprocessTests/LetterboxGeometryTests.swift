import KilnCore
import KilnPostprocess
import Testing

/// Boxes go back to the frame through the geometry the preprocessors drew it with.
@Suite struct LetterboxGeometryTests {
    /// 1000x333 into 640x640: the content is rounded to 640x213 with a 213-pixel top pad, and its full
    /// extent maps back to the whole frame (an unrounded scale of 0.64 would end the frame at 332.1).
    @Test func theContentsExtentMapsBackToTheWholeFrameWithTheRoundedGeometry() {
        let g = LetterboxGeometry.letterbox(frameWidth: 1000, frameHeight: 333, inputWidth: 640, inputHeight: 640)
        #expect([g.contentWidth, g.contentHeight, g.padX, g.padY] == [640, 213, 0, 213] as [Int])
        let box = g.toFrame(Box(x1: 0, y1: 213, x2: 640, y2: 426))
        #expect(abs(box.x1) < 1e-3 && abs(box.y1) < 1e-3 && abs(box.x2 - 1000) < 1e-3 && abs(box.y2 - 333) < 1e-3, "\(box)")
    }

    @Test func boxesPastTheContentAreClippedToTheFrame() {
        let g = LetterboxGeometry.letterbox(frameWidth: 1280, frameHeight: 720, inputWidth: 640, inputHeight: 640)
        #expect(g.toFrame(Box(x1: -10, y1: 0, x2: 650, y2: 640)) == Box(x1: 0, y1: 0, x2: 1280, y2: 720))
        let stretch = LetterboxGeometry.stretch(frameWidth: 640, frameHeight: 480, inputWidth: 640, inputHeight: 640)
        #expect(stretch.toFrame(Box(x1: 64, y1: 64, x2: 128, y2: 128)) == Box(x1: 64, y1: 48, x2: 128, y2: 96))
    }
}
