import Foundation
import KilnCore
import KilnCUDA
import KilnInference
import KilnReference
import KilnTensorRT
import KilnVideo

/// The first-contact self-test behind `kiln selftest`: what a user runs on a new device before
/// trusting it, and attaches to a bug report.
///
/// It probes the CUDA driver and the GPU, compiles a kernel with NVRTC and, with a GPU, launches it
/// and checks its result; probes TensorRT (library, version, the headers the bridge was compiled
/// against); builds every model with the reference backend and checks the accuracy gate both ways
/// (an independent build of the same model passes, a build from altered weights is refused); and,
/// where TensorRT is usable, builds every model at fp32 and fp16 (int8 for models with Q/DQ nodes,
/// DLA where the profile has DLA cores), runs each on preprocessed synthetic frames, compares every
/// output with the reference backend through `AccuracyGate`, and times build, load and inference.
/// Runs on the calling thread and blocks; call it off the cooperative pool.
public struct SelfTest: Sendable {
    /// How one check ended.
    public enum Status: String, Codable, Sendable {
        /// It ran and its result is right.
        case passed
        /// It ran and its result is wrong (or it could not run although its components are present).
        case failed
        /// A component it needs is not installed; the detail names it, where Kiln looked, and the fix.
        case missing
        /// Not applicable here (no DLA cores, no Q/DQ model).
        case skipped
    }

    /// One check of the report.
    public struct Check: Codable, Sendable {
        /// `cuda`, `nvrtc`, `tensorrt`, `reference/demo`, `gate/demo`, `tensorrt/demo/fp16`…
        public var name: String
        /// How it ended.
        public var status: Status
        /// What was found or measured, or what is missing and how to fix it.
        public var detail: String
        /// Seconds the engine build took.
        public var buildSeconds: Double?
        /// Seconds the engine load took.
        public var loadSeconds: Double?
        /// Median milliseconds of one inference.
        public var inferenceMilliseconds: Double?
        /// The accuracy gate's verdict, for checks that compare outputs.
        public var verdict: AccuracyGate.Verdict?

        /// Creates a check.
        public init(name: String, status: Status, detail: String, buildSeconds: Double? = nil, loadSeconds: Double? = nil,
                    inferenceMilliseconds: Double? = nil, verdict: AccuracyGate.Verdict? = nil) {
            self.name = name
            self.status = status
            self.detail = detail
            self.buildSeconds = buildSeconds
            self.loadSeconds = loadSeconds
            self.inferenceMilliseconds = inferenceMilliseconds
            self.verdict = verdict
        }
    }

    /// Everything the self-test found: what `report.json` holds.
    public struct Report: Codable, Sendable {
        /// What this build of Kiln contains (`kiln --version`).
        public var kiln: String
        /// When the test ran.
        public var date: Date
        /// `uname`'s machine and release.
        public var host: String
        /// Every check, in the order run.
        public var checks: [Check]

        /// The details of the checks whose component is missing.
        public var missing: [String] { checks.filter { $0.status == .missing }.map { "\($0.name): \($0.detail)" } }

        /// 0 when every check passed (or was not applicable), 1 when any failed, 4 when none failed but
        /// a component is missing.
        public var exitCode: ExitCode {
            if checks.contains(where: { $0.status == .failed }) { return .runtimeFailure }
            if checks.contains(where: { $0.status == .missing }) { return .componentMissing }
            return .ok
        }
    }

    /// The models to build and compare.
    public var models: [SelfTestModel]
    /// How many preprocessed frames each comparison uses.
    public var frames: Int
    /// The TensorRT backend under test.
    public var tensorRT: TensorRTBackend
    /// DLA cores the device profile declares (a DLA build is tried on core 0 when > 0).
    public var dlaCores: Int
    /// The text `kiln --version` prints, for the report.
    public var kilnVersion: String
    /// Receives each line of progress as it happens.
    public var log: @Sendable (String) -> Void

    /// Creates a self-test.
    public init(models: [SelfTestModel] = [.demo, .convNet], frames: Int = 4, tensorRT: TensorRTBackend, dlaCores: Int = 0,
                kilnVersion: String, log: @escaping @Sendable (String) -> Void) {
        self.models = models
        self.frames = frames
        self.tensorRT = tensorRT
        self.dlaCores = dlaCores
        self.kilnVersion = kilnVersion
        self.log = log
    }

    /// Runs every check and returns the report.
    public func run() -> Report {
        var checks: [Check] = []
        func record(_ check: Check) {
            log("\(check.name): \(check.status.rawValue): \(check.detail)")
            checks.append(check)
        }
        let (cudaCheck, device) = probeCUDA()
        record(cudaCheck)
        record(probeNVRTC(device: device))
        let tensorRTProbe = probeTensorRT()
        record(tensorRTProbe)
        let reference = ReferenceBackend()
        for model in models {
            let inputs: [[String: Tensor]]
            let baseline: (runner: any InferenceRunner, check: Check)
            do {
                inputs = try Self.frames(count: frames, spec: model.preprocess)
                baseline = try referenceCheck(model, backend: reference, inputs: inputs)
            } catch {
                record(Check(name: "reference/\(model.name)", status: .failed, detail: "\(error)"))
                continue
            }
            record(baseline.check)
            record(gateRefusalCheck(model, backend: reference, baseline: baseline.runner, inputs: inputs))
            guard tensorRTProbe.status == .passed else { continue }
            var variants: [(String, BuildOptions)] = [("fp32", BuildOptions(precision: .fp32)), ("fp16", BuildOptions(precision: .fp16))]
            if model.hasQuantizationNodes { variants.append(("int8", BuildOptions(precision: .int8))) }
            if dlaCores > 0 { variants.append(("dla0-fp16", BuildOptions(precision: .fp16, dlaCore: 0))) }
            for (label, options) in variants {
                record(tensorRTCheck(model, label: label, options: options, baseline: baseline.runner, inputs: inputs))
            }
        }
        if tensorRTProbe.status != .passed {
            record(Check(name: "tensorrt/builds", status: .skipped,
                         detail: "TensorRT is not usable here, so no TensorRT engine was built or compared (see the tensorrt check)"))
        }
        var system = utsname()
        uname(&system)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return Report(kiln: kilnVersion, date: Date(), host: "\(field(system.machine)) Linux \(field(system.release))", checks: checks)
    }

    /// `count` synthetic frames (a moving white square on a gradient) preprocessed with `spec`.
    static func frames(count: Int, spec: PreprocessSpec) throws -> [[String: Tensor]] {
        let source = SyntheticSource(width: 640, height: 360, frameLimit: count * 7)
        let preprocessor = CPUPreprocessor(spec: spec)
        var result: [[String: Tensor]] = []
        var index = 0
        while let frame = try source.next() {
            defer { index += 1 }
            guard index % 7 == 0 else { continue }  // frames far apart: the square is elsewhere in each
            result.append(["": try preprocessor.tensor(for: frame).0])
        }
        return result
    }

    /// Feeds keyed by the runner's first input's name.
    static func feeds(_ inputs: [[String: Tensor]], for runner: any InferenceRunner) throws -> [[String: Tensor]] {
        guard runner.inputs.count == 1, let name = runner.inputs.first?.name else {
            throw InvalidModelError("the self-test feeds one image input; this model has \(runner.inputs.count) inputs")
        }
        return inputs.map { [name: $0[""]!] }
    }

    /// Median milliseconds of one `run` over the inputs (each run once after a warm-up).
    static func time(_ runner: any InferenceRunner, _ feeds: [[String: Tensor]]) throws -> Double {
        _ = try runner.run(feeds[0])
        var samples: [Double] = []
        for feed in feeds {
            let t0 = MonotonicClock.now
            _ = try runner.run(feed)
            samples.append((MonotonicClock.now - t0) * 1000)
        }
        return samples.sorted()[samples.count / 2]
    }

    func probeCUDA() -> (Check, CUDADevice?) {
        if let reason = CUDA.unavailableReason() {
            return (Check(name: "cuda", status: .missing, detail: reason), nil)
        }
        do {
            let device = try CUDADevice.query(0)
            let driver = try CUDA.driverVersion()
            let (free, _) = try CUDAContext(device: 0).memoryInfo()
            let detail = "driver CUDA \(driver / 1000).\(driver % 1000 / 10) (\(CUDA.loadedLibraries().first ?? "libcuda")), "
                + "\(try CUDA.deviceCount()) device(s); device 0: \(device.name), \(device.smTarget), "
                + "\(device.totalMemoryBytes >> 20) MiB (\(free >> 20) MiB free), \(device.multiprocessorCount) SMs, "
                + (device.integrated ? "integrated" : "discrete")
            return (Check(name: "cuda", status: .passed, detail: detail), device)
        } catch {
            return (Check(name: "cuda", status: .failed, detail: "the driver loads but device 0 cannot be used: \(error)"), nil)
        }
    }

    /// The kernel NVRTC compiles and the GPU runs: y = alpha·x + y.
    static let kernelSource = """
        struct KilnSelftestArgs { const float* x; float* y; float alpha; int n; };
        extern "C" __global__ void kiln_selftest_saxpy(KilnSelftestArgs a) {
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < a.n) a.y[i] = a.alpha * a.x[i] + a.y[i];
        }
        """

    func probeNVRTC(device: CUDADevice?) -> Check {
        let version: (major: Int, minor: Int)
        do {
            version = try CUDA.nvrtcVersion()
        } catch {
            return Check(name: "nvrtc", status: .missing, detail: error.description)
        }
        // Without a GPU the kernel is still compiled, for Orin's SM, to prove NVRTC works.
        let sm = device.map { $0.sm } ?? "87"
        do {
            let output = try NVRTCCompiler(cache: nil).compile(source: Self.kernelSource, name: "kiln_selftest.cu", sm: sm)
            var detail = String(format: "NVRTC %d.%d compiled a kernel for sm_%@ in %.0f ms (%d-byte %@)", version.major, version.minor,
                                sm, output.compileSeconds * 1000, output.image.count, output.kind)
            guard let device else {
                return Check(name: "nvrtc", status: .passed, detail: detail + "; not launched: no GPU")
            }
            let n = 1 << 20
            let x = (0..<n).map { Float($0 % 1000) }
            var y = [Float](repeating: 1, count: n)
            let context = try CUDAContext(device: device.index)
            let stream = try CUDAStream(context: context)
            let dx = try DeviceBuffer(context: context, byteCount: n * 4)
            let dy = try DeviceBuffer(context: context, byteCount: n * 4)
            try x.withUnsafeBytes { try dx.upload(from: $0.baseAddress!, count: n * 4, stream: stream) }
            try y.withUnsafeBytes { try dy.upload(from: $0.baseAddress!, count: n * 4, stream: stream) }
            var argument: [UInt8] = []
            withUnsafeBytes(of: dx.address) { argument += $0 }
            withUnsafeBytes(of: dy.address) { argument += $0 }
            withUnsafeBytes(of: Float(2)) { argument += $0 }
            withUnsafeBytes(of: Int32(n)) { argument += $0 }
            let kernel = try CUDAModule(context: context, image: output.image).function("kiln_selftest_saxpy")
            let t0 = MonotonicClock.now
            try kernel.launch(grid: ((n + 255) / 256, 1, 1), block: (256, 1, 1), stream: stream, argument: argument)
            try y.withUnsafeMutableBytes { try dy.download(to: $0.baseAddress!, count: n * 4, stream: stream) }
            try stream.synchronize()
            let seconds = MonotonicClock.now - t0
            let wrong = (0..<n).filter { y[$0] != 2 * x[$0] + 1 }
            if let first = wrong.first {
                return Check(name: "nvrtc", status: .failed,
                             detail: detail + "; the launched kernel computed \(wrong.count) of \(n) elements wrong (element \(first): \(y[first]), expected \(2 * x[first] + 1))")
            }
            detail += String(format: "; launched on %@ over %d elements, all correct (%.2f ms with the copy back)", device.name, n, seconds * 1000)
            return Check(name: "nvrtc", status: .passed, detail: detail)
        } catch {
            return Check(name: "nvrtc", status: .failed, detail: "NVRTC \(version.major).\(version.minor) loads, but: \(error)")
        }
    }

    func probeTensorRT() -> Check {
        let bridge = "bridge: \(TensorRTLibrary.bridgeDescription)"
        let probed: (version: TensorRTVersion, library: String)
        do {
            probed = try TensorRTLibrary.probe()
        } catch {
            return Check(name: "tensorrt", status: .missing, detail: "\(error.message); \(bridge)")
        }
        if let reason = TensorRTLibrary.stubReason {
            return Check(name: "tensorrt", status: .missing,
                         detail: "\(probed.library) \(probed.version) is installed, but this kiln was \(reason)")
        }
        if case .unavailable(let reason) = tensorRT.availability() {
            return Check(name: "tensorrt", status: .missing, detail: "\(probed.library) \(probed.version): \(reason); \(bridge)")
        }
        do {
            return Check(name: "tensorrt", status: .passed, detail: "\(probed.library) \(probed.version); \(bridge); identity \(try tensorRT.identity())")
        } catch {
            return Check(name: "tensorrt", status: .failed, detail: "\(probed.library) \(probed.version) loads, but: \(error)")
        }
    }

    /// Builds `model` with the reference backend and checks the gate passes an independent single-thread build.
    func referenceCheck(_ model: SelfTestModel, backend: ReferenceBackend, inputs: [[String: Tensor]]) throws
        -> (runner: any InferenceRunner, check: Check)
    {
        let source = ModelSource(bytes: model.bytes, name: model.name)
        let t0 = MonotonicClock.now
        let artifact = try backend.build(model: source, options: BuildOptions())
        let t1 = MonotonicClock.now
        let runner = try backend.load(artifact, options: BuildOptions())
        let t2 = MonotonicClock.now
        let feeds = try Self.feeds(inputs, for: runner)
        let milliseconds = try Self.time(runner, feeds)
        let single = BuildOptions(threads: 1)
        let second = try backend.load(try backend.build(model: source, options: single), options: single)
        let verdict = try AccuracyGate(precision: .fp32).compare(candidate: second, reference: runner, inputs: feeds)
        let detail = "built and ran on \(feeds.count) frames; a single-thread build agrees: \(verdict.summary)"
        return (runner, Check(name: "reference/\(model.name)", status: verdict.passed ? .passed : .failed, detail: detail,
                              buildSeconds: t1 - t0, loadSeconds: t2 - t1, inferenceMilliseconds: milliseconds, verdict: verdict))
    }

    /// Proves the comparison can fail: an engine built from altered weights must be refused.
    func gateRefusalCheck(_ model: SelfTestModel, backend: ReferenceBackend, baseline: any InferenceRunner,
                          inputs: [[String: Tensor]]) -> Check {
        let name = "gate/\(model.name)"
        do {
            let altered = try model.withAlteredWeights()
            let runner = try backend.load(try backend.build(model: ModelSource(bytes: altered.bytes, name: altered.name), options: BuildOptions()),
                                          options: BuildOptions())
            let verdict = try AccuracyGate(precision: .fp16).compare(candidate: runner, reference: baseline,
                                                                     inputs: try Self.feeds(inputs, for: runner))
            return verdict.passed
                ? Check(name: name, status: .failed, detail: "an engine built from altered weights was NOT refused: \(verdict.summary)", verdict: verdict)
                : Check(name: name, status: .passed, detail: "an engine built from altered weights is refused: \(verdict.summary)", verdict: verdict)
        } catch {
            return Check(name: name, status: .failed, detail: "\(error)")
        }
    }

    /// Builds `model` with TensorRT, runs it and compares it with the reference runner.
    func tensorRTCheck(_ model: SelfTestModel, label: String, options: BuildOptions, baseline: any InferenceRunner,
                       inputs: [[String: Tensor]]) -> Check {
        let name = "tensorrt/\(model.name)/\(label)"
        do {
            let t0 = MonotonicClock.now
            let artifact = try tensorRT.build(model: ModelSource(bytes: model.bytes, name: model.name), options: options)
            let t1 = MonotonicClock.now
            let runner = try tensorRT.load(artifact, options: options)
            let t2 = MonotonicClock.now
            let feeds = try Self.feeds(inputs, for: runner)
            let milliseconds = try Self.time(runner, feeds)
            let verdict = try AccuracyGate(precision: options.precision).compare(candidate: runner, reference: baseline, inputs: feeds)
            return Check(name: name, status: verdict.passed ? .passed : .failed,
                         detail: "\(artifact.bytes.count)-byte engine; \(verdict.summary)",
                         buildSeconds: t1 - t0, loadSeconds: t2 - t1, inferenceMilliseconds: milliseconds, verdict: verdict)
        } catch {
            return Check(name: name, status: .failed, detail: "\(error)")
        }
    }
}
