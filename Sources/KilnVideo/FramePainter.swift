/// A box with a caption to draw on a frame: a detection as the snapshot and saved frames show it.
public struct FrameOverlay: Sendable, Equatable {
    /// Left, top, right, bottom in frame pixels (as the results report them).
    public var x1: Float, y1: Float, x2: Float, y2: Float
    /// Picks the colour (`FramePainter.color(_:)`): the class id.
    public var colorIndex: Int
    /// The caption, e.g. `person 0.91` (drawn in capitals).
    public var text: String
    /// Whether the box's outline is drawn; a caption alone (a classification) has none.
    public var outlined: Bool

    /// Creates an overlay.
    public init(x1: Float, y1: Float, x2: Float, y2: Float, colorIndex: Int, text: String, outlined: Bool = true) {
        (self.x1, self.y1, self.x2, self.y2) = (x1, y1, x2, y2)
        self.colorIndex = colorIndex
        self.text = text
        self.outlined = outlined
    }

    /// A caption without a box at the frame's top left, on line `line` (0 first): how a
    /// classification is shown.
    public static func caption(_ text: String, line: Int, colorIndex: Int) -> FrameOverlay {
        let top = Float(line * FramePainter.captionHeight)
        return FrameOverlay(x1: 0, y1: top, x2: 0, y2: top, colorIndex: colorIndex, text: text, outlined: false)
    }
}

/// Draws boxes and captions into RGB24 pixels.
///
/// A box's outline is `thickness` pixels wide, drawn inside its rounded corners: the pixels at
/// the reported coordinates themselves carry the colour. Its caption sits on a filled band of the
/// same colour just above the box (inside it when there is no room above), in a 3×5 pixel font
/// scaled by 2.
public enum FramePainter {
    /// The outline width in pixels.
    public static let thickness = 2
    /// The caption band's height in pixels.
    public static let captionHeight = 5 * scale + 4
    static let scale = 2

    /// The colour of index `i` (a fixed palette of 12 saturated colours, repeating).
    public static func color(_ i: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let palette: [(UInt8, UInt8, UInt8)] = [
            (255, 56, 56), (56, 255, 56), (56, 120, 255), (255, 210, 0), (255, 0, 255), (0, 220, 255),
            (255, 140, 0), (140, 0, 255), (0, 160, 90), (255, 120, 180), (160, 255, 0), (0, 90, 160),
        ]
        let c = palette[((i % palette.count) + palette.count) % palette.count]
        return (c.0, c.1, c.2)
    }

    /// Draws `overlays` onto `pixels` (`width`×`height` RGB24), clipped to the frame.
    public static func draw(_ overlays: [FrameOverlay], on pixels: inout [UInt8], width: Int, height: Int) {
        guard width > 0, height > 0, pixels.count == width * height * 3 else { return }
        for o in overlays {
            guard o.x1.isFinite, o.y1.isFinite, o.x2.isFinite, o.y2.isFinite else { continue }
            let x1 = clamp(Int(o.x1.rounded()), width), y1 = clamp(Int(o.y1.rounded()), height)
            let x2 = clamp(Int(o.x2.rounded()), width), y2 = clamp(Int(o.y2.rounded()), height)
            guard x2 >= x1, y2 >= y1 else { continue }
            let c = color(o.colorIndex)
            if o.outlined {
                let t = thickness
                fill(&pixels, width, height, x1, y1, x2, min(y2, y1 + t - 1), c)          // top
                fill(&pixels, width, height, x1, max(y1, y2 - t + 1), x2, y2, c)          // bottom
                fill(&pixels, width, height, x1, y1, min(x2, x1 + t - 1), y2, c)          // left
                fill(&pixels, width, height, max(x1, x2 - t + 1), y1, x2, y2, c)          // right
            }
            // The caption band: above the box, or inside its top when it touches the frame's top
            // (a caption alone sits at its own top).
            let text = Array(o.text.uppercased().prefix(40))
            guard !text.isEmpty else { continue }
            let bandWidth = text.count * 4 * scale + 4
            let top = o.outlined && y1 - captionHeight >= 0 ? y1 - captionHeight : y1
            fill(&pixels, width, height, x1, top, x1 + bandWidth - 1, top + captionHeight - 1, c)
            let luminance = 299 * Int(c.r) + 587 * Int(c.g) + 114 * Int(c.b)
            let ink: (r: UInt8, g: UInt8, b: UInt8) = luminance > 128_000 ? (0, 0, 0) : (255, 255, 255)
            for (k, ch) in text.enumerated() {
                let rows = glyph(ch)
                for row in 0..<5 {
                    for col in 0..<3 where rows[row] & (4 >> col) != 0 {
                        let px = x1 + 2 + (k * 4 + col) * scale, py = top + 2 + row * scale
                        fill(&pixels, width, height, px, py, px + scale - 1, py + scale - 1, ink)
                    }
                }
            }
        }
    }

    private static func clamp(_ v: Int, _ size: Int) -> Int { min(max(v, 0), size - 1) }

    /// Fills the inclusive rectangle, clipped to the frame.
    private static func fill(_ p: inout [UInt8], _ w: Int, _ h: Int, _ x1: Int, _ y1: Int, _ x2: Int, _ y2: Int,
                             _ c: (r: UInt8, g: UInt8, b: UInt8)) {
        let xa = max(0, x1), xb = min(w - 1, x2), ya = max(0, y1), yb = min(h - 1, y2)
        guard xa <= xb, ya <= yb else { return }
        p.withUnsafeMutableBufferPointer { buf in
            for y in ya...yb {
                var i = (y * w + xa) * 3
                for _ in xa...xb {
                    buf[i] = c.r; buf[i + 1] = c.g; buf[i + 2] = c.b
                    i += 3
                }
            }
        }
    }

    /// The 3×5 glyph of `ch`: five rows, three bits each (4 = left column); unknown characters draw as `?`.
    static func glyph(_ ch: Character) -> [UInt8] {
        font[ch] ?? font["?"]!
    }

    private static let font: [Character: [UInt8]] = {
        let table: [(Character, String)] = [
            ("A", "010101111101101"), ("B", "110101110101110"), ("C", "011100100100011"), ("D", "110101101101110"),
            ("E", "111100110100111"), ("F", "111100110100100"), ("G", "011100101101011"), ("H", "101101111101101"),
            ("I", "111010010010111"), ("J", "001001001101010"), ("K", "101101110101101"), ("L", "100100100100111"),
            ("M", "101111111101101"), ("N", "110101101101101"), ("O", "010101101101010"), ("P", "110101110100100"),
            ("Q", "010101101110011"), ("R", "110101110101101"), ("S", "011100010001110"), ("T", "111010010010010"),
            ("U", "101101101101111"), ("V", "101101101101010"), ("W", "101101111111101"), ("X", "101101010101101"),
            ("Y", "101101010010010"), ("Z", "111001010100111"), ("0", "111101101101111"), ("1", "010110010010111"),
            ("2", "110001010100111"), ("3", "110001010001110"), ("4", "101101111001001"), ("5", "111100110001110"),
            ("6", "011100111101111"), ("7", "111001010010010"), ("8", "111101111101111"), ("9", "111101111001110"),
            (".", "000000000000010"), ("-", "000000111000000"), ("_", "000000000000111"), (":", "000010000010000"),
            ("%", "101001010100101"), ("/", "001001010100100"), (" ", "000000000000000"), ("?", "110001010000010"),
        ]
        var font: [Character: [UInt8]] = [:]
        for (ch, bits) in table {
            let b = Array(bits.utf8)
            font[ch] = (0..<5).map { r in (0..<3).reduce(UInt8(0)) { $0 << 1 | (b[r * 3 + $1] == UInt8(ascii: "1") ? 1 : 0) } }
        }
        return font
    }()
}
