/// Conversions of captured pixel layouts to packed RGB24 (BT.601, limited range for YUV).
///
/// Sources deliver RGB24 frames so preprocessing sees one layout; these run on the capture thread.
public enum PixelConversion {
    /// Converts `src` (`format`, `width`×`height`, tightly packed) to RGB24.
    public static func toRGB24(_ src: UnsafeRawBufferPointer, format: PixelFormat, width: Int, height: Int) -> [UInt8] {
        let count = width * height * 3
        return [UInt8](unsafeUninitializedCapacity: count) { dst, initialized in
            toRGB24(src, format: format, width: width, height: height, into: dst)
            initialized = count
        }
    }

    /// Converts `src` (`format`, `width`×`height`, tightly packed) to RGB24 in `dst`
    /// (`width·height·3` bytes), allocating nothing.
    public static func toRGB24(_ src: UnsafeRawBufferPointer, format: PixelFormat, width: Int, height: Int,
                               into dst: UnsafeMutableBufferPointer<UInt8>) {
        let count = width * height * 3
        precondition(dst.count >= count, "toRGB24: \(dst.count)-byte destination for \(width)x\(height) RGB")
        do {
            let s = src.bindMemory(to: UInt8.self)
            switch format {
            case .rgb24:
                dst.baseAddress!.update(from: s.baseAddress!, count: count)
            case .bgr24:
                for i in stride(from: 0, to: count, by: 3) {
                    dst[i] = s[i + 2]; dst[i + 1] = s[i + 1]; dst[i + 2] = s[i]
                }
            case .gray8:
                for i in 0..<(width * height) { let v = s[i]; dst[3 * i] = v; dst[3 * i + 1] = v; dst[3 * i + 2] = v }
            case .yuyv:
                // Y0 U Y1 V per pixel pair; widths are even in YUYV (the last odd column is dropped by V4L2).
                for y in 0..<height {
                    let row = y * width * 2
                    for pair in 0..<(width / 2) {
                        let p = row + pair * 4
                        let u = Int(s[p + 1]), v = Int(s[p + 3])
                        let o = (y * width + pair * 2) * 3
                        store(dst, o, Int(s[p]), u, v)
                        store(dst, o + 3, Int(s[p + 2]), u, v)
                    }
                    if width % 2 == 1 { dst.baseAddress!.advanced(by: (y * width + width - 1) * 3).update(repeating: 0, count: 3) }
                }
            case .nv12, .i420:
                let cw = (width + 1) / 2, ch = (height + 1) / 2
                let ySize = width * height
                for y in 0..<height {
                    let cy = y >> 1
                    for x in 0..<width {
                        let cx = x >> 1
                        let u: Int, v: Int
                        if format == .nv12 {
                            let c = ySize + (cy * cw + cx) * 2
                            u = Int(s[c]); v = Int(s[c + 1])
                        } else {
                            u = Int(s[ySize + cy * cw + cx]); v = Int(s[ySize + cw * ch + cy * cw + cx])
                        }
                        store(dst, (y * width + x) * 3, Int(s[y * width + x]), u, v)
                    }
                }
            }
        }
    }

    /// BT.601 limited-range YUV → RGB in 16.16 fixed point.
    @inline(__always)
    static func store(_ dst: UnsafeMutableBufferPointer<UInt8>, _ i: Int, _ y: Int, _ u: Int, _ v: Int) {
        let c = (y - 16) * 76309, d = u - 128, e = v - 128
        dst[i] = clamp((c + 104597 * e + 32768) >> 16)
        dst[i + 1] = clamp((c - 25675 * d - 53279 * e + 32768) >> 16)
        dst[i + 2] = clamp((c + 132201 * d + 32768) >> 16)
    }

    @inline(__always)
    static func clamp(_ v: Int) -> UInt8 { UInt8(truncatingIfNeeded: v < 0 ? 0 : (v > 255 ? 255 : v)) }
}
