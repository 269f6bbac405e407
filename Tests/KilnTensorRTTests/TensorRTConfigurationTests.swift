import KilnCore
import KilnInference
import KilnTensorRT
import Testing

@Suite("BuildOptions → TensorRT bridge configuration and trtexec arguments")
struct TensorRTConfigurationTests {
    static let trt82 = TensorRTVersion(major: 8, minor: 2, patch: 1)
    static let trt86 = TensorRTVersion(major: 8, minor: 6, patch: 1)
    static let trt10 = TensorRTVersion(major: 10, minor: 1, patch: 0)
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

    @Test("TensorRT 10: tactic sources are dropped with a note; BF16 and --best include BF16")
    func bridge10() throws {
        let c = try TensorRTBuildConfiguration(options: Self.yolo(.fp16), version: Self.trt10)
        #expect(c.tacticSources == nil)
        #expect(c.ignored.count == 1 && c.ignored[0].contains("tactic sources"))
        let bf = try TensorRTBuildConfiguration(options: Self.yolo(.bf16), version: Self.trt10)
        #expect(bf.bf16 && !bf.fp16)
        let best = try TensorRTBuildConfiguration(options: Self.yolo(.best), version: Self.trt10)
        #expect(best.best && best.fp16 && best.int8 && best.bf16)
    }

    @Test("TensorRT 8: BF16 is refused with the fix; --best has no BF16; 8.2 has no optimization levels")
    func bridge8Limits() throws {
        #expect(throws: TensorRTError.self) { try TensorRTBuildConfiguration(options: Self.yolo(.bf16), version: Self.trt86) }
        let best = try TensorRTBuildConfiguration(options: Self.yolo(.best), version: Self.trt86)
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
            "--builderOptimizationLevel=3", "--skipInference",
        ])
    }

    @Test("trtexec arguments for TensorRT 8.6: MiB pool size, tactic sources, --best")
    func trtexec86() throws {
        let c = try TensorRTBuildConfiguration(options: Self.yolo(.best), version: Self.trt86)
        #expect(TrtexecCommand.arguments(onnx: "a.onnx", engine: "a.plan", configuration: c, version: Self.trt86) == [
            "--onnx=a.onnx", "--saveEngine=a.plan", "--memPoolSize=workspace:256", "--best",
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
