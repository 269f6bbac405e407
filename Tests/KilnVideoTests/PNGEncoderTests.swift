import Foundation
import KilnTestSupport
import KilnVideo
import Testing

/// Kiln's PNG writer and zlib streams, read back by independent decoders: Pillow and Python's zlib.
@Suite struct PNGEncoderTests {
    /// An odd-sized image with every byte value: rows of a gradient plus noise.
    static func image(width: Int, height: Int) -> [UInt8] {
        var state: UInt32 = 12345
        return (0..<(width * height * 3)).map { i in
            state = state &* 1_103_515_245 &+ 12345
            return UInt8(truncatingIfNeeded: (i % (width * 3)) + Int(state >> 28))
        }
    }

    static func python(_ script: String, _ arguments: [String]) throws -> String? {
        guard let python = try TestEnvironment.pythonTool() else { return nil }
        let r = try TestEnvironment.run(python, ["-c", script] + arguments)
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func pngsDecodeInPillowToTheSamePixels() throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(Zlib.isAvailable, "the system's libz.so.1 should load")
        for (w, h) in [(1, 1), (37, 23), (640, 480)] {
            let pixels = Self.image(width: w, height: h)
            let png = dir.appendingPathComponent("\(w)x\(h).png"), raw = dir.appendingPathComponent("\(w)x\(h).rgb")
            try Data(PNGEncoder.encode(rgb: pixels, width: w, height: h)).write(to: png)
            try Data(pixels).write(to: raw)
            let verdict = try Self.python("""
                import sys; import numpy as np; from PIL import Image
                im = Image.open(sys.argv[1]); im.load()
                print(im.mode, im.size[0], im.size[1], np.asarray(im).tobytes() == open(sys.argv[2], "rb").read())
                """, [png.path, raw.path])
            if let verdict { #expect(verdict == "RGB \(w) \(h) True", "\(w)x\(h): \(verdict)") }
        }
    }

    @Test func storedZlibStreamsInflateWithPythonsZlib() throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Three stored blocks (65535 + 65535 + the rest) and the empty stream.
        for count in [150_000, 0] {
            let bytes = Self.image(width: max(1, count / 3), height: 1).prefix(count).map { $0 }
            let stream = dir.appendingPathComponent("s\(count).zlib"), raw = dir.appendingPathComponent("s\(count).raw")
            try Data(Zlib.stored(bytes)).write(to: stream)
            try Data(bytes).write(to: raw)
            let verdict = try Self.python("""
                import sys, zlib
                print(zlib.decompress(open(sys.argv[1], "rb").read()) == open(sys.argv[2], "rb").read())
                """, [stream.path, raw.path])
            if let verdict { #expect(verdict == "True", "\(count) bytes") }
        }
    }
}
