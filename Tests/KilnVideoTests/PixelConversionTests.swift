import Foundation
import KilnTestSupport
import KilnVideo
import Testing

@Suite struct PixelConversionTests {
    @Test func knownBT601ValuesConvertExactly() {
        // YUYV pairs: white (235,128,128), black (16,128,128), red (81,90,240), blue (41,240,110).
        let yuyv: [UInt8] = [235, 128, 16, 128, 81, 90, 81, 240, 41, 240, 41, 110]
        let rgb = yuyv.withUnsafeBytes { PixelConversion.toRGB24($0, format: .yuyv, width: 6, height: 1) }
        #expect(Array(rgb[0..<3]) == [255, 255, 255])
        #expect(Array(rgb[3..<6]) == [0, 0, 0])
        #expect(rgb[6] >= 253 && rgb[7] <= 2 && rgb[8] <= 2, "red \(Array(rgb[6..<9]))")
        #expect(rgb[14] >= 253 && rgb[12] <= 2 && rgb[13] <= 2, "blue \(Array(rgb[12..<15]))")
        let bgr: [UInt8] = [1, 2, 3]
        #expect(bgr.withUnsafeBytes { PixelConversion.toRGB24($0, format: .bgr24, width: 1, height: 1) } == [3, 2, 1])
    }

    @Test func nv12AndYUYVAgreeWithFFmpegOnRealVideo() throws {
        guard let ffmpeg = try TestEnvironment.tool("ffmpeg"), let video = try bigBuckBunny() else { return }
        let common = ["-i", video, "-ss", "2", "-frames:v", "1", "-vf", "scale=320:180", "-f", "rawvideo"]
        let reference = Array(try ffmpegOutput(ffmpeg, common + ["-pix_fmt", "rgb24", "-"]))
        for (fmt, ff) in [(PixelFormat.nv12, "nv12"), (.yuyv, "yuyv422"), (.i420, "yuv420p")] {
            let bytes = Array(try ffmpegOutput(ffmpeg, common + ["-pix_fmt", ff, "-"]))
            #expect(bytes.count == fmt.frameBytes(width: 320, height: 180))
            let rgb = bytes.withUnsafeBytes { PixelConversion.toRGB24($0, format: fmt, width: 320, height: 180) }
            let d = meanAbsoluteDifference(rgb, reference)
            #expect(d < 3, "\(ff): mean |Kiln - ffmpeg| = \(d)")
        }
    }
}
