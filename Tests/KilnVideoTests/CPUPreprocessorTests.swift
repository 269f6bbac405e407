import Foundation
import KilnTestSupport
import KilnVideo
import Testing

@Suite struct CPUPreprocessorTests {
    @Test func letterboxGeometryCentresContentAndKeepsAspect() {
        let spec = PreprocessSpec(width: 640, height: 640)
        let g = spec.geometry(frameWidth: 1920, frameHeight: 1080)
        #expect([g.frameWidth, g.frameHeight, g.contentWidth, g.contentHeight, g.padX, g.padY] == [1920, 1080, 640, 360, 0, 140] as [Int])
        #expect(g.scaleX == 1.0 / 3 && g.scaleY == 1.0 / 3)
        let p = g.toFrame(x: 320, y: 320)
        #expect(abs(p.x - 960) < 1e-9 && abs(p.y - 540) < 1e-9)
    }

    @Test func paddingAndNormalisationFollowTheSpec() throws {
        let spec = PreprocessSpec(width: 8, height: 8, channelOrder: .bgr, mean: [0.5, 0.25, 0], std: [0.5, 0.5, 1], padValue: 114)
        let frame = Frame(stream: "t", index: 0, width: 4, height: 2, format: .rgb24,
                          pixels: [UInt8](repeating: 0, count: 24).enumerated().map { $0.offset % 3 == 0 ? 255 : 0 },
                          captureTime: 0, captureSeconds: 0)
        let (tensor, g) = try CPUPreprocessor(spec: spec).tensor(for: frame)
        #expect(tensor.shape == [1, 3, 8, 8])
        #expect(g.padY == 2 && g.contentHeight == 4)
        let v = tensor.floatValues()
        // Channel 0 is blue (0 in the frame): (0 - 0.5)/0.5 = -1; pad: (114/255 - 0.5)/0.5.
        #expect(abs(v[0] - (114 / 255 - 0.5) / 0.5) < 1e-6)
        #expect(abs(v[3 * 8 + 3] - -1) < 1e-6)
        // Channel 2 is red (255): (1 - 0)/1 = 1.
        #expect(abs(v[2 * 64 + 3 * 8 + 3] - 1) < 1e-6)
    }

    @Test func float16OutputEqualsRoundedFloat32() throws {
        let source = SyntheticSource(width: 320, height: 200)
        let frame = try #require(try source.next())
        var spec = PreprocessSpec.imageNet(width: 96, height: 96, resize: .letterbox)
        let (f32, _) = try CPUPreprocessor(spec: spec).tensor(for: frame)
        spec.outputType = .float16
        let (f16, _) = try CPUPreprocessor(spec: spec).tensor(for: frame)
        #expect(f16.elementType == .float16)
        #expect(f32.floatValues().map { Float(Float16($0)) } == f16.floatValues())
    }

    /// The real oracle: OpenCV's resize + copyMakeBorder + blobFromImage on the same frame, with
    /// a 2:1 downscale so every sample really interpolates (fx = 0.5).
    @Test func matchesOpenCVLetterboxWithinUInt8Rounding() throws {
        guard let python = try TestEnvironment.pythonTool() else { return }
        let source = SyntheticSource(width: 1280, height: 720)
        let frame = try #require(try source.next())
        let spec = PreprocessSpec(width: 640, height: 640, resize: .letterbox, channelOrder: .bgr, padValue: 114)
        let (tensor, g) = try CPUPreprocessor(spec: spec).tensor(for: frame)
        #expect(g.padY == 140 && g.contentHeight == 360)
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(frame.pixels).write(to: dir.appendingPathComponent("f.rgb"))
        let script = """
            import sys, numpy as np, cv2
            img = np.fromfile(sys.argv[1] + '/f.rgb', dtype=np.uint8).reshape(720, 1280, 3)
            r = cv2.resize(img, (640, 360), interpolation=cv2.INTER_LINEAR)
            b = cv2.copyMakeBorder(r, 140, 140, 0, 0, cv2.BORDER_CONSTANT, value=(114, 114, 114))
            cv2.dnn.blobFromImage(b, 1/255.0, (640, 640), (0, 0, 0), swapRB=True).astype(np.float32).tofile(sys.argv[1] + '/o.f32')
            """
        let result = try TestEnvironment.run(python, ["-c", script, dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        let reference = try Data(contentsOf: dir.appendingPathComponent("o.f32")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let ours = tensor.floatValues()
        #expect(reference.count == ours.count)
        var worst: Float = 0
        for i in 0..<min(ours.count, reference.count) { worst = max(worst, abs(ours[i] - reference[i])) }
        // OpenCV rounds the resized pixel to uint8: at most half a level, plus float noise.
        #expect(worst <= 0.5 / 255 + 1e-5, "max difference \(worst)")
    }
}

@Suite struct PreprocessSpecTextTests {
    @Test func textRoundTripsAndTokensOverrideTheBase() throws {
        let base = PreprocessSpec(width: 640, height: 640)
        let spec = try PreprocessSpec(parsing: "stretch,224x224,bgr,imagenet,pad=0,fp16", base: base)
        #expect(spec.width == 224 && spec.resize == .stretch && spec.channelOrder == .bgr && spec.outputType == .float16)
        #expect(spec.mean == [0.406, 0.456, 0.485])
        #expect(try PreprocessSpec(parsing: spec.text, base: base) == spec)
        #expect(try PreprocessSpec(parsing: "rgb", base: base) == base)
    }

    @Test func badTokensNameTheTokenAndTheFix() {
        #expect(throws: (any Error).self) { try PreprocessSpec(parsing: "letterbox,mean=1/2", base: PreprocessSpec(width: 1, height: 1)) }
        do {
            _ = try PreprocessSpec(parsing: "sideways", base: PreprocessSpec(width: 1, height: 1))
        } catch {
            #expect("\(error)".contains("sideways") && "\(error)".contains("letterbox,640x640"))
        }
    }
}
