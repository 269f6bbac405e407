import KilnCore
import KilnInference
import KilnTensorRT
import Testing

@Suite("BuildOptions → TensorRT bridge configuration and trtexec arguments")
struct TensorRTConfigurationTests {
    static let trt82 = TensorRTVersion(major: 8, minor: 2, patch: 1)
    static let trt86 = TensorRTVersion(major: 8, minor: 6, patch: 1)
    static let trt10 = TensorRTVersion(major: 10, minor: 1, patch: 0)
    static let trt11 = TensorRTVersion(major: 11, minor: 1, patch: 0)
    static let quantized = ModelTypes(quantized: true, floatTypes: [.float32])
    static let half = ModelTypes(quantized: false, floatTypes: [.float16])
    static let small = TacticSources(cublas: false, cublasLt: false, cudnn: false, edgeMaskConvolutions: true)

    static func yolo(_ precision: Precision) -> BuildOptions {
        BuildOptions(precision: precision, workspaceBytes: 256 << 20,
                     shapeProfiles: ["images": ShapeProfile(min: [1, 3, 640, 640], opt: [4, 3, 640, 640], max: [8, 3, 640, 640])],
                     optimizationLevel: 3, timingCachePath: "/var/cache/kiln/timing.cache", tacticSources: small)
    }

    @Test("TensorRT 8.6: FP16, tactic sources applied, optimization level kept")
    func bridge86() throws {
        let c = try TensorRTBuildConfiguration(options: Self.yolo(.fp16), version: Self.trt86)
        #expect(c.workspaceBytes == 256 << 20)
        #expect(c.fp16 && !c.int8 && !c.bf16 && !c.best)
        #expect(c.tacticSources == Self.small)
        #expect(c.optimizationLevel == 3)
        #expect(c.shapeProfiles["images"]?.max == [8, 3, 640, 640])
        #expect(c.timingCachePath == "/var/cache/kiln/timing.cache")
        #expect(c.ignored.isEmpty)
    }

    @Test("TensorRT 10: edge-mask tactics still edited, cuBLAS/cuDNN noted; --best has BF16 only from SM 8.0")
    func bridge10() throws {
        let c = try TensorRTBuildConfiguration(options: Self.yolo(.fp16), version: Self.trt10)
        #expect(c.tacticSources == Self.small)
        #expect(c.ignored.isEmpty, "the profile only switches cuBLAS/cuDNN off, which TensorRT 10 has no more")
        var withCublas = Self.yolo(.fp16)
        withCublas.tacticSources = TacticSources()
        #expect(try TensorRTBuildConfiguration(options: withCublas, version: Self.trt10).ignored.contains { $0.contains("cuBLAS/cuDNN") })
        let bf = try TensorRTBuildConfiguration(options: Self.yolo(.bf16), version: Self.trt10, computeCapability: ComputeCapability(major: 8, minor: 7))
        #expect(bf.bf16 && !bf.fp16)
        #expect(throws: TensorRTError.self, "BF16 on a T4 (SM 7.5)") { try TensorRTBuildConfiguration(options: Self.yolo(.bf16), version: Self.trt10, computeCapability: ComputeCapability(major: 7, minor: 5)) }
        var calibrated = Self.yolo(.best)
        calibrated.calibrationCachePath = "/models/yolo.calib"
        let best = try TensorRTBuildConfiguration(options: calibrated, version: Self.trt10, computeCapability: ComputeCapability(major: 8, minor: 7))
        #expect(best.best && best.fp16 && best.int8 && best.bf16)
        let t4 = try TensorRTBuildConfiguration(options: calibrated, version: Self.trt10, computeCapability: ComputeCapability(major: 7, minor: 5))
        #expect(t4.best && !t4.bf16)
        #expect(try !TensorRTBuildConfiguration(options: calibrated, version: Self.trt10).bf16, "SM unknown: no BF16")
    }

    @Test("INT8 without a calibration cache or Q/DQ nodes is refused; best leaves INT8 out; Q/DQ models need no cache")
    func int8NeedsScales() throws {
        let e = try #require(throws: TensorRTError.self) { try TensorRTBuildConfiguration(options: Self.yolo(.int8), version: Self.trt86) }
        #expect(e.kind == .invalidArgument && e.message.contains("calibration cache or a model with Q/DQ nodes"), "\(e)")
        let best = try TensorRTBuildConfiguration(options: Self.yolo(.best), version: Self.trt86)
        #expect(!best.best && !best.int8 && best.fp16)
        #expect(best.ignored.contains { $0.contains("INT8 in precision best") })
        #expect(TrtexecCommand.arguments(onnx: "a.onnx", engine: "a.plan", configuration: best, version: Self.trt86).contains("--fp16"))
        #expect(!TrtexecCommand.arguments(onnx: "a.onnx", engine: "a.plan", configuration: best, version: Self.trt86).contains("--best"))
        let qdq = try TensorRTBuildConfiguration(options: Self.yolo(.int8), version: Self.trt86, model: Self.quantized)
        #expect(qdq.int8 && !qdq.stronglyTyped, "TensorRT 8 builds Q/DQ models with the INT8 flag (explicit quantization)")
    }

    @Test("strongly typed: TensorRT 11 always, Q/DQ models on 10; fp16 asked of an fp32 model on 11 builds fp32 with a warning")
    func stronglyTyped() throws {
        let fp32On11 = try TensorRTBuildConfiguration(options: Self.yolo(.fp16), version: Self.trt11)
        #expect(fp32On11.stronglyTyped && !fp32On11.fp16 && !fp32On11.int8)
        #expect(fp32On11.ignored.contains { $0.contains("the engine is fp32") && $0.contains("fp16 weights") })
        let int8On11 = try TensorRTBuildConfiguration(options: Self.yolo(.int8), version: Self.trt11)
        #expect(int8On11.ignored.contains { $0.contains("Q/DQ nodes") })
        let halfOn11 = try TensorRTBuildConfiguration(options: Self.yolo(.fp16), version: Self.trt11, model: Self.half)
        #expect(halfOn11.stronglyTyped && !halfOn11.ignored.contains { $0.contains("engine is fp32") })
        let qdqOn10 = try TensorRTBuildConfiguration(options: Self.yolo(.int8), version: Self.trt10, model: Self.quantized)
        #expect(qdqOn10.stronglyTyped && !qdqOn10.int8)
        #expect(TrtexecCommand.arguments(onnx: "a.onnx", engine: "a.plan", configuration: qdqOn10, version: Self.trt10).contains("--stronglyTyped"))
        let args11 = TrtexecCommand.arguments(onnx: "a.onnx", engine: "a.plan", configuration: fp32On11, version: Self.trt11)
        #expect(!args11.contains { ["--fp16", "--int8", "--best", "--stronglyTyped"].contains($0) })
        #expect(try !TensorRTBuildConfiguration(options: Self.yolo(.fp16), version: Self.trt10).stronglyTyped)
    }

    @Test("DLA with fp32 builds FP16 as trtexec does, so both build paths make one engine")
    func dlaEnablesFP16() throws {
        var options = Self.yolo(.fp32)
        options.dlaCore = 0
        let c = try TensorRTBuildConfiguration(options: options, version: Self.trt86)
        #expect(c.fp16 && c.dlaCore == 0)
        #expect(c.ignored.contains { $0.contains("DLA runs FP16 or INT8 only") })
        let args = TrtexecCommand.arguments(onnx: "a.onnx", engine: "a.plan", configuration: c, version: Self.trt86)
        #expect(args.contains("--fp16") && args.contains("--useDLACore=0") && args.contains("--allowGPUFallback"))
    }

    @Test("TensorRT 8: BF16 is refused with the fix; --best has no BF16; 8.2 has no optimization levels")
    func bridge8Limits() throws {
        #expect(throws: TensorRTError.self) { try TensorRTBuildConfiguration(options: Self.yolo(.bf16), version: Self.trt86) }
        var calibrated = Self.yolo(.best)
        calibrated.calibrationCachePath = "/models/yolo.calib"
        let best = try TensorRTBuildConfiguration(options: calibrated, version: Self.trt86, computeCapability: ComputeCapability(major: 8, minor: 7))
        #expect(best.best && !best.bf16)
        var options = Self.yolo(.fp16)
        options.optimizationLevel = 5
        let old = try TensorRTBuildConfiguration(options: options, version: Self.trt82)
        #expect(old.optimizationLevel == nil)
        #expect(old.ignored.contains { $0.contains("optimization level 5") })
    }

    @Test("INT8 keeps the calibration cache; other precisions drop it")
    func int8Calibration() throws {
        var options = Self.yolo(.int8)
        options.calibrationCachePath = "/models/yolo.calib"
        let c = try TensorRTBuildConfiguration(options: options, version: Self.trt86)
        #expect(c.int8 && c.fp16)
        #expect(c.calibrationCachePath == "/models/yolo.calib")
        options.precision = .fp16
        #expect(try TensorRTBuildConfiguration(options: options, version: Self.trt86).calibrationCachePath == nil)
    }

    @Test("bad options are usage errors naming the option")
    func invalid() {
        var options = Self.yolo(.fp16)
        options.workspaceBytes = 1000
        #expect { try TensorRTBuildConfiguration(options: options, version: Self.trt10) } throws: { ($0 as? TensorRTError)?.message.contains("workspace") == true }
        options = Self.yolo(.fp16)
        options.shapeProfiles["images"] = ShapeProfile(min: [8, 3, 640, 640], opt: [4, 3, 640, 640], max: [8, 3, 640, 640])
        #expect { try TensorRTBuildConfiguration(options: options, version: Self.trt10) } throws: {
            ($0 as? TensorRTError)?.message.contains("'images' dimension 0") == true && ($0 as? TensorRTError)?.exitCode == .usage
        }
    }

    @Test("trtexec arguments for TensorRT 10.1")
    func trtexec10() throws {
        var options = Self.yolo(.fp16)
        options.dlaCore = 1
        let c = try TensorRTBuildConfiguration(options: options, version: Self.trt10)
        #expect(TrtexecCommand.arguments(onnx: "/m/yolo.onnx", engine: "/e/yolo.plan", configuration: c, version: Self.trt10) == [
            "--onnx=/m/yolo.onnx", "--saveEngine=/e/yolo.plan", "--memPoolSize=workspace:256M", "--fp16",
            "--minShapes=images:1x3x640x640", "--optShapes=images:4x3x640x640", "--maxShapes=images:8x3x640x640",
            "--timingCacheFile=/var/cache/kiln/timing.cache", "--useDLACore=1", "--allowGPUFallback",
            "--builderOptimizationLevel=3", "--tacticSources=+EDGE_MASK_CONVOLUTIONS", "--skipInference",
        ])
    }

    @Test("trtexec arguments for TensorRT 8.6: MiB pool size, tactic sources as edits (JIT untouched), --best with a calibration cache")
    func trtexec86() throws {
        var options = Self.yolo(.best)
        options.calibrationCachePath = "cal.cache"
        let c = try TensorRTBuildConfiguration(options: options, version: Self.trt86)
        #expect(TrtexecCommand.arguments(onnx: "a.onnx", engine: "a.plan", configuration: c, version: Self.trt86) == [
            "--onnx=a.onnx", "--saveEngine=a.plan", "--memPoolSize=workspace:256", "--best", "--calib=cal.cache",
            "--minShapes=images:1x3x640x640", "--optShapes=images:4x3x640x640", "--maxShapes=images:8x3x640x640",
            "--timingCacheFile=/var/cache/kiln/timing.cache", "--builderOptimizationLevel=3",
            "--tacticSources=-CUBLAS,-CUBLAS_LT,-CUDNN,+EDGE_MASK_CONVOLUTIONS", "--skipInference",
        ])
    }

    @Test("trtexec arguments before TensorRT 8.4: --workspace=N and --buildOnly")
    func trtexec82() throws {
        var options = Self.yolo(.int8)
        options.shapeProfiles = [:]
        options.calibrationCachePath = "cal.cache"
        options.timingCachePath = nil
        let c = try TensorRTBuildConfiguration(options: options, version: Self.trt82)
        #expect(TrtexecCommand.arguments(onnx: "a.onnx", engine: "a.plan", configuration: c, version: Self.trt82) == [
            "--onnx=a.onnx", "--saveEngine=a.plan", "--workspace=256", "--fp16", "--int8", "--calib=cal.cache",
            "--tacticSources=-CUBLAS,-CUBLAS_LT,-CUDNN", "--buildOnly",
        ])
    }

    @Test("trtexec's result is read from its &&&& lines")
    func trtexecResult() {
        #expect(TrtexecCommand.passed("...\n&&&& PASSED TensorRT.trtexec [TensorRT v8601] # trtexec --onnx=a.onnx\n"))
        let failed = "[11/22/2026-01:00:00] [E] Error[4]: [network.cpp::validate::2965] Error Code 4: Internal Error (images: dynamic input is missing dimensions in profile 0.)\n&&&& FAILED TensorRT.trtexec [TensorRT v8601] # trtexec"
        #expect(!TrtexecCommand.passed(failed))
        #expect(TrtexecCommand.errors(failed).contains("dynamic input is missing dimensions"))
    }
}
