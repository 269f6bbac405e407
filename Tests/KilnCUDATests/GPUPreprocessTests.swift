import Foundation
import KilnCore
import KilnCUDA
import KilnVideo
import Testing

@Suite("GPU device and preprocessing on real hardware", .tags(.gpu), .enabled(if: GPUProbe.available))
struct GPUPreprocessTests {
    static func frame(_ w: Int, _ h: Int, _ format: PixelFormat) -> Frame {
        var g = SystemRandomNumberGenerator()
        let pixels = (0..<(w * h * 3)).map { _ in UInt8.random(in: 0...255, using: &g) }
        return Frame(stream: "t", index: 0, width: w, height: h, format: format, pixels: pixels, captureTime: 0, captureSeconds: 0)
    }

    @Test("the device query reports a plausible device and an identity for cache keys")
    func deviceQuery() throws {
        let device = try CUDADevice.query(0)
        #expect(device.computeCapability >= ComputeCapability(major: 5, minor: 0))
        #expect(device.totalMemoryBytes > 1 << 30)
        #expect(device.multiprocessorCount > 0)
        #expect(device.uuid.hasPrefix("GPU-"))
        let id = device.identity
        #expect(id.driverVersion >= 10000)
        #expect(id.cacheKeyFields["sm"] == device.computeCapability.sm)
    }

    @Test("GPU preprocessing matches CPUPreprocessor: float32 within 1e-5, float16 within 1 ulp",
          arguments: [PreprocessSpec.ElementTypeName.float32, .float16])
    func matchesCPU(_ type: PreprocessSpec.ElementTypeName) throws {
        let spec = PreprocessSpec(width: 640, height: 480, channelOrder: .bgr, mean: [0.406, 0.456, 0.485],
                                  std: [0.225, 0.224, 0.229], padValue: 114, outputType: type)
        let context = try CUDAContext(device: 0)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-gpu-test-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let gpu = try GPUFramePreprocessor(spec: spec, context: context, compiler: NVRTCCompiler(cache: CubinCache(directory: dir)))
        let frames = [Self.frame(1277, 719, .rgb24), Self.frame(1277, 719, .rgb24)]
        let (tensor, _) = try gpu.tensor(for: frames)
        let cpu = CPUPreprocessor(spec: spec)
        let got = tensor.floatValues()
        let per = 3 * 640 * 480
        for (n, f) in frames.enumerated() {
            let want = try cpu.tensor(for: f).0.floatValues()
            for i in 0..<per {
                let a = got[n * per + i], b = want[i]
                #expect(a.isFinite)
                if type == .float32 {
                    if abs(a - b) > 1e-5 { Issue.record("element \(i) of frame \(n): gpu \(a) cpu \(b)"); return }
                } else {
                    let ulp = abs(Int(Float16(a).bitPattern) - Int(Float16(b).bitPattern))
                    if ulp > 1 { Issue.record("element \(i) of frame \(n): gpu \(a) cpu \(b) (\(ulp) ulp)"); return }
                }
            }
        }
    }
}
