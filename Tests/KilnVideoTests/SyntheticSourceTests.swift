import KilnVideo
import Testing

@Suite struct SyntheticSourceTests {
    /// The pattern as documented: red ramps with x, green with y, blue is a 32-pixel checker, and
    /// the moving square is white.
    private static func expected(width: Int, height: Int, index: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                pixels[i] = UInt8(x * 255 / max(1, width - 1))
                pixels[i + 1] = UInt8(y * 255 / max(1, height - 1))
                pixels[i + 2] = UInt8(((x / 32 + y / 32) % 2) * 96 + 64)
            }
        }
        let side = max(8, min(width, height) / 6)
        let spanX = max(1, width - side), spanY = max(1, height - side)
        let ox = (index * 7) % (2 * spanX), oy = (index * 5) % (2 * spanY)
        let left = ox < spanX ? ox : 2 * spanX - ox, top = oy < spanY ? oy : 2 * spanY - oy
        for y in top..<min(height, top + side) {
            for x in left..<min(width, left + side) {
                let i = (y * width + x) * 3
                pixels[i] = 255; pixels[i + 1] = 255; pixels[i + 2] = 255
            }
        }
        return pixels
    }

    @Test(arguments: [(1280, 720), (100, 70), (33, 1), (1, 40)])
    func renderedFramesMatchThePatternEvenInRecycledBuffers(size: (Int, Int)) throws {
        let (width, height) = size
        let source = SyntheticSource(width: width, height: height)
        for _ in 0..<4 {
            var frame = try #require(try source.next())
            let wanted = Self.expected(width: width, height: height, index: frame.index)
            #expect(frame.pixels == wanted, "frame \(frame.index) of \(width)x\(height)")
            frame.recycle()  // the next frame is rendered into this buffer
        }
        for index in [57, 400, 4321] {
            #expect(source.render(index) == Self.expected(width: width, height: height, index: index), "index \(index)")
        }
    }
}
