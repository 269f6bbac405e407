import Foundation
import KilnCore
import KilnCUDA
import KilnVideo
import Testing

@Suite("device tensors from the GPU preprocessor's pool, on real hardware", .tags(.gpu), .enabled(if: GPUProbe.available))
struct GPUTensorPoolTests {
    @Test("a device tensor holds the same bytes as the host tensor and costs no copy until downloaded")
    func deviceValueMatchesHostTensor() throws {
        let spec = PreprocessSpec(width: 320, height: 256)
        let context = try CUDAContext(device: 0)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-gpu-pool-test-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let gpu = try GPUFramePreprocessor(spec: spec, context: context, compiler: NVRTCCompiler(cache: CubinCache(directory: dir)))
        let frame = GPUPreprocessTests.frame(640, 360, .rgb24)
        let (host, _) = try gpu.tensor(for: frame)
        let before = CUDATransfers.snapshot
        let (value, _) = try gpu.value(for: frame, memory: .device)
        let made = CUDATransfers.snapshot.since(before)
        guard case .device(let device) = value else { Issue.record("asked for device memory, got \(value.memory)"); return }
        #expect(made.downloads == 0)
        #expect(made.uploads == (gpu.zeroCopy ? 0 : 1))  // the frame itself, once
        #expect(device.shape == [1, 3, 256, 320])
        let downloaded = try device.download()
        #expect(downloaded == host)
        let read = CUDATransfers.snapshot.since(before)
        #expect(read.downloads == (gpu.zeroCopy ? 0 : 1))
    }

    @Test("the pool lends each buffer once, waits when all are out, and takes them back on release")
    func poolBackpressure() throws {
        let context = try CUDAContext(device: 0)
        let pool = try GPUTensorPool(context: context, byteCount: 4096, capacity: 2, timeout: 0.2)
        var first: GPUTensorPool.Lease? = try pool.acquire()
        let second = try pool.acquire()
        #expect(first!.deviceAddress != second.deviceAddress)
        #expect(pool.freeCount == 0)
        #expect(throws: CUDAError.self) { _ = try pool.acquire() }
        let address = first!.deviceAddress
        first = nil
        #expect(pool.freeCount == 1)
        let third = try pool.acquire()
        #expect(third.deviceAddress == address)
    }
}
