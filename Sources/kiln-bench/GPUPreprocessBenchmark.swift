import Foundation
import KilnCore
import KilnCUDA
import KilnVideo

/// GPU preprocessing, 1920×1080 uint8 RGB → 640×640 letterbox, ImageNet mean/std, NCHW float16:
/// Kiln's NVRTC-compiled kernel against torch's chain (`permute` → `float` → `F.interpolate`
/// bilinear → `F.pad` → normalise → `half`), eager and CUDA-graph replay, at batch 1 and 8, in one
/// run. Before timing it prints the device query, whether the kernels were compiled or loaded
/// from the cubin cache, and checks the GPU output against `CPUPreprocessor` on random frames
/// (float32 within 1e-5, float16 within 1 ulp; exits 1 otherwise). The bandwidth floor is the
/// input read once plus the output written once at the device-to-device copy bandwidth measured
/// here.
enum GPUPreprocessBenchmark: Benchmark {
    static let name = "gpu-preprocess"
    static let summary = "GPU letterbox preprocessing (NVRTC kernel) vs torch, batch 1 and 8; checks vs CPUPreprocessor"

    static let torchScript = #"""
import sys, json, torch, torch.nn.functional as F
iters = int(sys.argv[1])
dev = "cuda"
mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)
def chain(x):
    t = x.permute(0, 3, 1, 2).float()
    t = F.interpolate(t, size=(360, 640), mode="bilinear", align_corners=False)
    t = F.pad(t, (0, 0, 140, 140), value=114.0)
    t = (t / 255.0 - mean) / std
    return t.half()
def timed(fn, n):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(5):
        s.record()
        for i in range(n): fn(i)
        e.record(); e.synchronize()
        samples.append(s.elapsed_time(e) * 1000.0 / n)
    samples.sort()
    return samples[len(samples) // 2]
out = {"torch": torch.__version__, "device": torch.cuda.get_device_name()}
for b in (1, 8):
    xs = [torch.randint(0, 256, (b, 1080, 1920, 3), dtype=torch.uint8, device=dev) for _ in range(4)]
    for x in xs: chain(x)
    torch.cuda.synchronize()
    out[f"eager{b}"] = timed(lambda i: chain(xs[i % 4]), iters)
    static = [x.clone() for x in xs]
    graphs, outs = [], []
    s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for x in static: chain(x)
    torch.cuda.current_stream().wait_stream(s)
    for x in static:
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g): outs.append(chain(x))
        graphs.append(g)
    out[f"graph{b}"] = timed(lambda i: graphs[i % 4].replay(), iters)
print(json.dumps(out))
"""#

    struct CheckCase {
        var name: String
        var frameWidth: Int, frameHeight: Int
        var format: PixelFormat
        var spec: PreprocessSpec
        var batch: Int
        var zeroCopy = false
    }

    static func randomFrame(_ w: Int, _ h: Int, _ format: PixelFormat, index: Int) -> Frame {
        var g = SystemRandomNumberGenerator()
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        pixels.withUnsafeMutableBytes { raw in
            let words = raw.count / 8
            let p = raw.baseAddress!
            for i in 0..<words { p.storeBytes(of: g.next() as UInt64, toByteOffset: i * 8, as: UInt64.self) }
            for i in (words * 8)..<raw.count { raw[i] = UInt8.random(in: 0...255, using: &g) }
        }
        return Frame(stream: "random", index: index, width: w, height: h, format: format, pixels: pixels, captureTime: 0, captureSeconds: 0)
    }

    /// Compares GPU against CPU for one case; returns (max abs diff, max ulp diff, non-finite count).
    static func check(_ c: CheckCase, context: CUDAContext, compiler: NVRTCCompiler, pixelsPerThread: Int) throws -> (Double, Int, Int) {
        let gpu = try GPUFramePreprocessor(spec: c.spec, context: context, compiler: compiler, zeroCopy: c.zeroCopy)
        gpu.kernels.pixelsPerThread = pixelsPerThread
        let frames = (0..<c.batch).map { randomFrame(c.frameWidth, c.frameHeight, c.format, index: $0) }
        let (tensor, _) = try gpu.tensor(for: frames)
        let cpu = CPUPreprocessor(spec: c.spec)
        var maxAbs = 0.0, maxUlp = 0, bad = 0
        let per = 3 * c.spec.width * c.spec.height
        for (n, f) in frames.enumerated() {
            let (ref, _) = try cpu.tensor(for: f)
            if c.spec.outputType == .float16 {
                let r = ref.values(as: UInt16.self)
                let gv = tensor.values(as: UInt16.self)
                for i in 0..<per {
                    let a = Float16(bitPattern: gv[n * per + i]), b = Float16(bitPattern: r[i])
                    if !a.isFinite { bad += 1; continue }
                    func ordered(_ x: Float16) -> Int { let v = Int(x.bitPattern & 0x7FFF); return x.sign == .minus ? -v : v }
                    maxUlp = max(maxUlp, abs(ordered(a) - ordered(b)))
                    maxAbs = max(maxAbs, Double(abs(Float(a) - Float(b))))
                }
            } else {
                let r = ref.values(as: Float.self)
                let gv = tensor.values(as: Float.self)
                for i in 0..<per {
                    let a = gv[n * per + i]
                    if !a.isFinite { bad += 1; continue }
                    maxAbs = max(maxAbs, Double(abs(a - r[i])))
                    if a != r[i] { maxUlp = max(maxUlp, abs(Int(a.bitPattern) - Int(r[i].bitPattern))) }
                }
            }
        }
        return (maxAbs, maxUlp, bad)
    }

    /// Median per-launch microseconds of `body` run `iterations` times between events, 5 repeats.
    static func deviceTime(context: CUDAContext, stream: CUDAStream, iterations: Int, _ body: (Int) throws -> Void) throws -> Double {
        let start = try CUDAEvent(context: context), stop = try CUDAEvent(context: context)
        for i in 0..<20 { try body(i) }
        try stream.synchronize()
        var samples: [Double] = []
        for _ in 0..<5 {
            try start.record(on: stream)
            for i in 0..<iterations { try body(i) }
            try stop.record(on: stream)
            try stop.synchronize()
            samples.append(try stop.milliseconds(since: start) * 1000 / Double(iterations))
        }
        samples.sort()
        return samples[2]
    }

    /// `name` as given when it is a path, else its location on PATH (Process needs a full path).
    static func resolveExecutable(_ name: String) -> String {
        if name.contains("/") { return name }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return name
    }

    static func run(_ args: [String]) async throws {
        let iterations = Int(BenchSupport.option(args, "--iterations") ?? "") ?? 200
        let python = resolveExecutable(BenchSupport.option(args, "--python") ?? "python3")
        let skipTorch = args.contains("--no-torch")
        if let reason = CUDA.unavailableReason() { throw RuntimeError("no usable GPU: \(reason)") }

        // 1. Device query.
        let context = try CUDAContext(device: 0)
        let d = context.device
        let id = d.identity
        let (free, total) = try context.memoryInfo()
        print("== device query (CUDA driver API via dlopen: \(CUDA.loadedLibraries().joined(separator: ", ")))")
        print("device 0: \(d.name)  uuid \(d.uuid)  pci \(d.pciBus)")
        print("  compute capability \(d.computeCapability) -> target \(d.smTarget), \(d.multiprocessorCount) SMs, L2 \(d.l2CacheBytes >> 20) MiB")
        print(String(format: "  memory %.1f GiB total, %.1f GiB free, integrated: %@, can map host memory: %@",
                     Double(total) / 1073741824, Double(free) / 1073741824, d.integrated ? "yes" : "no", d.canMapHostMemory ? "yes" : "no"))
        print("  driver CUDA \(id.driverVersionString) (\(id.driverVersion)), NVRTC \(id.runtimeVersion)")
        print("  identity: \(id.summary)")
        print("  cache-key fields: \(id.cacheKeyFields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")

        // 2. Kernels: compiled by NVRTC, or loaded from the cubin cache.
        let cache = CubinCache.defaultCache()
        let compiler = NVRTCCompiler(cache: cache)
        let spec = PreprocessSpec(width: 640, height: 640, resize: .letterbox, channelOrder: .rgb,
                                  mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], padValue: 114, outputType: .float16)
        let pre = try GPUFramePreprocessor(spec: spec, context: context, compiler: compiler)
        let comp = pre.kernels.compilation
        print("== kernels (cache \(cache.directory.path))")
        if comp.fromCache {
            print("  loaded \(comp.kind) for \(d.smTarget) from the cache (key \(comp.key.prefix(16))…, \(comp.image.count) bytes): no NVRTC compilation")
        } else {
            print(String(format: "  NVRTC compiled kiln_preprocess.cu for %@ in %.3f s -> %@ %d bytes, stored under key %@…",
                         d.smTarget, comp.compileSeconds, comp.kind, comp.image.count, String(comp.key.prefix(16))))
        }

        // 3. GPU vs CPUPreprocessor on random frames.
        print("== GPU vs KilnVideo.CPUPreprocessor (random frames; output poisoned with NaN before each run)")
        let cases = [
            CheckCase(name: "1920x1080 rgb -> 640x640 letterbox f32 /255", frameWidth: 1920, frameHeight: 1080, format: .rgb24,
                      spec: PreprocessSpec(width: 640, height: 640), batch: 2),
            CheckCase(name: "1920x1080 rgb -> 640x640 letterbox f16 imagenet", frameWidth: 1920, frameHeight: 1080, format: .rgb24,
                      spec: spec, batch: 3),
            CheckCase(name: "1277x719 bgr -> 640x480 letterbox f32 imagenet rgb", frameWidth: 1277, frameHeight: 719, format: .bgr24,
                      spec: PreprocessSpec(width: 640, height: 480, channelOrder: .rgb, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]), batch: 2),
            CheckCase(name: "640x272 rgb -> 224x224 stretch f16 imagenet bgr", frameWidth: 640, frameHeight: 272, format: .rgb24,
                      spec: { var s = PreprocessSpec.imageNet(width: 224, height: 224, order: .bgr); s.outputType = .float16; return s }(), batch: 4),
            CheckCase(name: "333x500 rgb -> 417x417 letterbox f16 (upscale, odd)", frameWidth: 333, frameHeight: 500, format: .rgb24,
                      spec: PreprocessSpec(width: 417, height: 417, outputType: .float16), batch: 1),
            CheckCase(name: "1920x1080 bgr -> 640x640 f16, zero-copy mapped input", frameWidth: 1920, frameHeight: 1080, format: .bgr24,
                      spec: spec, batch: 2, zeroCopy: true),
        ]
        var rows: [[String]] = []
        var failed = false
        for c in cases {
            for px in [1, 2] {
                let (maxAbs, maxUlp, bad) = try check(c, context: context, compiler: compiler, pixelsPerThread: px)
                let half = c.spec.outputType == .float16
                let ok = bad == 0 && (half ? maxUlp <= 1 : maxAbs <= 1e-5)
                failed = failed || !ok
                rows.append([c.name, "x\(px)", "\(c.batch)", String(format: "%.3g", maxAbs), "\(maxUlp)", "\(bad)",
                             half ? "<= 1 ulp" : "<= 1e-5", ok ? "PASS" : "FAIL"])
            }
        }
        BenchSupport.table(["case", "px/thread", "batch", "max |gpu-cpu|", "max ulp", "non-finite", "tolerance", "result"], rows)
        if failed { throw RuntimeError("GPU preprocessing disagrees with CPUPreprocessor beyond tolerance (table above)") }

        // 4. Copy bandwidth (the floor's denominator).
        let stream = try CUDAStream(context: context)
        let copyBytes = 1 << 30
        let ca = try DeviceBuffer(context: context, byteCount: copyBytes), cb = try DeviceBuffer(context: context, byteCount: copyBytes)
        try ca.fill(7, stream: stream)
        let copyUs = try deviceTime(context: context, stream: stream, iterations: 10) { _ in try cb.copy(from: ca, count: copyBytes, stream: stream) }
        let bandwidth = 2 * Double(copyBytes) / (copyUs * 1e-6)
        print(String(format: "== device-to-device copy: 1 GiB in %.1f us -> %.2f TB/s (bytes read + written)", copyUs, bandwidth / 1e12))

        // 5. Timing, rotating 4 input and output sets so nothing is served from L2.
        let fw = 1920, fh = 1080
        let params = spec.gpuParameters(frameWidth: fw, frameHeight: fh)
        var kilnTimes: [Int: [Int: Double]] = [:]
        for batch in [1, 8] {
            let inBytes = fw * fh * 3 * batch, outBytes = params.outputBytesPerFrame * batch
            let ins = try (0..<4).map { _ in try DeviceBuffer(context: context, byteCount: inBytes) }
            let outs = try (0..<4).map { _ in try DeviceBuffer(context: context, byteCount: outBytes) }
            let host = try PinnedHostBuffer(context: context, byteCount: inBytes)
            for b in ins {
                let frame = randomFrame(fw, fh * batch, .rgb24, index: 0)
                frame.pixels.withUnsafeBytes { host.pointer.copyMemory(from: $0.baseAddress!, byteCount: inBytes) }
                try b.upload(from: host.pointer, count: inBytes, stream: stream)
                try stream.synchronize()
            }
            for px in [1, 2] {
                pre.kernels.pixelsPerThread = px
                kilnTimes[batch, default: [:]][px] = try deviceTime(context: context, stream: stream, iterations: iterations) { i in
                    try pre.kernels.enqueue(source: ins[i % 4].address, frameWidth: fw, frameHeight: fh, sourceIsBGR: false, batch: batch,
                                            destination: outs[i % 4].address, parameters: params, stream: stream)
                }
            }
        }

        // 6. torch, same process tree, same GPU, same run.
        var torch: [String: Any] = [:]
        if !skipTorch {
            do {
                let reply = try BenchSupport.runPython(python, script: torchScript, arguments: [String(iterations)])
                torch = (try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any]) ?? [:]
            } catch {
                print("torch comparison unavailable: \(error)")
            }
        }

        print("== 1920x1080 uint8 RGB -> 640x640 letterbox, ImageNet mean/std, NCHW float16; median us per batch over \(iterations) back-to-back launches x5")
        var table: [[String]] = []
        for batch in [1, 8] {
            let bytes = Double((fw * fh * 3 + params.outputBytesPerFrame) * batch)
            let floor = bytes / bandwidth * 1e6
            func row(_ name: String, _ us: Double?) -> [String] {
                guard let us else { return [name, "\(batch)", "-", "-", "-", "-"] }
                return [name, "\(batch)", String(format: "%.1f", us), String(format: "%.1f", floor),
                        String(format: "%.2f", bytes / (us * 1e-6) / 1e12), String(format: "%.0f%%", 100 * floor / us)]
            }
            let tv = torch["torch"] as? String ?? "?"
            table.append(row("torch \(tv) eager chain", torch["eager\(batch)"] as? Double))
            table.append(row("torch \(tv) chain, CUDA-graph replay", torch["graph\(batch)"] as? Double))
            table.append(row("Kiln NVRTC kernel, 1 px/thread", kilnTimes[batch]?[1]))
            table.append(row("Kiln NVRTC kernel, 2 px/thread (default)", kilnTimes[batch]?[2]))
        }
        BenchSupport.table(["implementation", "batch", "us/batch", "floor us", "TB/s (in+out)", "% of floor"], table)
        print(String(format: "floor = (input read once + output written once) / %.2f TB/s measured copy bandwidth", bandwidth / 1e12))
    }
}
