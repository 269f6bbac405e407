import Foundation
import KilnCore
import KilnInference
import KilnONNX
import KilnTensorRT
import KilnTestSupport
import Testing

/// What an engine is bound to: the fields that must change when the engine would differ.
@Suite("TensorRT cache-key fields and version checks")
struct TensorRTCacheKeyTests {
    static let orin = GPUDeviceIdentity(name: "Orin", uuid: "GPU-a", computeCapability: ComputeCapability(major: 8, minor: 7), totalMemoryBytes: 7 << 30,
                                        integrated: true, multiprocessorCount: 8, driverVersion: 12060, runtimeVersion: "12.6")

    @Test("TensorRT's build number and the CUDA runtime TensorRT loaded are part of the identity")
    func buildAndRuntime() {
        let v = TensorRTVersion(major: 8, minor: 6, patch: 2)
        let id = TensorRTBackend.identity(tensorrt: v, build: 3, cudaRuntime: 11040, device: Self.orin)
        #expect(id.fields["tensorrt"] == "8.6.2.3")
        #expect(id.fields["cuda"] == "11.4", "TensorRT's cudart, not the driver's 12.6")
        #expect(id != TensorRTBackend.identity(tensorrt: v, build: 4, cudaRuntime: 11040, device: Self.orin))
        #expect(TensorRTBackend.identity(tensorrt: v, device: Self.orin).fields["cuda"] == "12.6", "statically linked cudart: the driver's version")
    }

    @Test("replacing the INT8 calibration cache changes the cache key")
    func calibrationDigest() throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-calib")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("yolo.calib").path
        try Data("TRT-8601-EntropyCalibration2\nimages: 3c010a14\n".utf8).write(to: URL(fileURLWithPath: path))
        var options = BuildOptions(precision: .int8)
        options.calibrationCachePath = path
        let first = options.normalisedKeyFields["calibration"]
        #expect(first == SHA256.hex(Array("TRT-8601-EntropyCalibration2\nimages: 3c010a14\n".utf8)))
        try Data("TRT-8601-EntropyCalibration2\nimages: 3d0f1a22\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(options.normalisedKeyFields["calibration"] != first)
        #expect(BuildOptions(precision: .fp16).normalisedKeyFields["calibration"] == nil)
        let copy = dir.appendingPathComponent("copy.calib").path
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        var moved = options
        moved.calibrationCachePath = copy
        #expect(moved.normalisedKeyFields == options.normalisedKeyFields, "the same cache at another path: the same key")
    }

    @Test("headers newer than the installed library's minor version, or another major, are refused with the fix")
    func versionChecks() {
        let headers = TensorRTVersion(major: 10, minor: 3, patch: 0)
        #expect(headers.incompatibility(library: TensorRTVersion(major: 10, minor: 3, patch: 0)) == nil)
        #expect(headers.incompatibility(library: TensorRTVersion(major: 10, minor: 7, patch: 0)) == nil)
        #expect(headers.incompatibility(library: TensorRTVersion(major: 10, minor: 1, patch: 0))?.contains("older than the TensorRT 10.3.0 headers") == true)
        #expect(headers.incompatibility(library: TensorRTVersion(major: 8, minor: 6, patch: 2))?.contains("rebuild Kiln") == true)
    }

    @Test("a model's own types: Q/DQ nodes and fp16 weights, read from ONNX's conformance models")
    func modelTypes() throws {
        guard let quantize = try TestEnvironment.dataFile("onnx-node/test_quantizelinear/model.onnx"),
              let half = try TestEnvironment.dataFile("onnx-node/test_cast_FLOAT16_to_FLOAT/model.onnx"),
              let plain = try TestEnvironment.dataFile("onnx-node/test_relu/model.onnx") else { return }
        let q = ModelTypes(model: try ONNXReader.model(contentsOf: quantize))
        #expect(q.quantized && q.carries(.int8))
        let h = ModelTypes(model: try ONNXReader.model(contentsOf: half))
        #expect(!h.quantized && h.carries(.fp16))
        let p = ModelTypes(model: try ONNXReader.model(contentsOf: plain))
        #expect(p == .float32 && !p.carries(.fp16) && !p.carries(.int8))
    }
}
