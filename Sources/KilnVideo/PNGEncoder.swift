/// Writes RGB24 images as PNG (8-bit truecolour, no interlace), the IDAT data compressed by
/// `Zlib`. Every row uses the Sub filter (each byte minus the one to its left), which lets
/// deflate at its fastest level still shrink camera frames.
public enum PNGEncoder {
    /// The PNG file of a `width`×`height` RGB24 image (`rgb`: rows tightly packed).
    public static func encode(rgb: [UInt8], width: Int, height: Int, level: Int32 = 1) -> [UInt8] {
        precondition(width > 0 && height > 0 && rgb.count == width * height * 3, "PNGEncoder: \(rgb.count) bytes is not \(width)x\(height) RGB")
        let stride = width * 3
        var filtered = [UInt8](repeating: 0, count: (stride + 1) * height)
        filtered.withUnsafeMutableBufferPointer { out in
            rgb.withUnsafeBufferPointer { src in
                for y in 0..<height {
                    let o = y * (stride + 1), s = y * stride
                    out[o] = 1  // Sub
                    for x in 0..<min(3, stride) { out[o + 1 + x] = src[s + x] }
                    var x = 3
                    while x < stride {
                        out[o + 1 + x] = src[s + x] &- src[s + x - 3]
                        x += 1
                    }
                }
            }
        }
        var header: [UInt8] = []
        header += bigEndian(UInt32(width))
        header += bigEndian(UInt32(height))
        header += [8, 2, 0, 0, 0]  // bit depth 8, colour type 2 (RGB), deflate, filter 0, no interlace
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        appendChunk("IHDR", header, to: &png)
        appendChunk("IDAT", Zlib.compress(filtered, level: level), to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    private static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    private static func appendChunk(_ type: String, _ data: [UInt8], to png: inout [UInt8]) {
        png += bigEndian(UInt32(data.count))
        let typed = Array(type.utf8) + data
        png += typed
        png += bigEndian(crc32(typed))
    }

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 (ISO 3309, as PNG chunks use) of `bytes`.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        let table = crcTable
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
