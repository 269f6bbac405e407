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
    static let orin = TestDevices.orinNano

    @Test("TensorRT's build number and the CUDA runtime TensorRT loaded are part of the identity")
    func buildAndRuntime() {
        let v = TensorRTVersion(major: 8, minor: 6, patch: 2)
        let id = TensorRTBackend.identity(tensorrt: v, build: 3, cudaRuntime: 11040, device: Self.orin)
        #expect(id.fields["tensorrt"] == "8.6.2.3")
        #expect(id.fields["cuda"] == "11.4", "TensorRT's cudart, not the driver's 12.6")
        #expect(id != TensorRTBackend.identity(tensorrt: v, build: 4, cudaRuntime: 11040, device: Self.orin))
        #expect(TensorRTBackend.identity(tensorrt: v, device: Self.orin).fields["cuda"] == "12.6", "statically linked cudart: the driver's version")
    }

    /// A JetPack 6.1 stanza of dpkg's database for TensorRT 10.3's runtime package.
    static let jetpack61 = """
        Package: libnvinfer10
        Status: install ok installed
        Priority: optional
        Section: libs
        Installed-Size: 2187516
        Maintainer: cudatools <cudatools@nvidia.com>
        Architecture: arm64
        Source: tensorrt
        Version: 10.3.0.30-1+cuda12.5
        Description: TensorRT runtime libraries
         TensorRT runtime libraries for high-performance deep learning inference.

        """

    @Test("the installed libnvinfer package gives the build number and CUDA release the library cannot report (finding 15)")
    func packageRecord() throws {
        let p = try #require(TensorRTPackage(name: "libnvinfer8", debianVersion: "8.6.2.3-1+cuda12.2"))
        #expect(p.version == TensorRTVersion(major: 8, minor: 6, patch: 2) && p.build == 3 && p.cuda == "12.2")
        let jp5 = try #require(TensorRTPackage(name: "libnvinfer8", debianVersion: "8.5.2-1+cuda11.4"))
        #expect(jp5.build == nil && jp5.cuda == "11.4", "JetPack 5's packages carry no build number")
        #expect(TensorRTPackage(name: "libnvinfer10", debianVersion: "1:10.13.3.9-1+cuda13.0")?.cuda == "13.0", "an epoch is skipped")
        #expect(TensorRTPackage(name: "libnvinfer10", debianVersion: "10.3")?.version == nil, "not TensorRT's x.y.z")
        #expect(TensorRTPackage(name: "libnvinfer10", debianVersion: "10.3.0.30-1+cudaXY")?.cuda == nil)

        // The real dpkg database of this machine with JetPack's stanza among its packages.
        let real = (try? String(contentsOfFile: TensorRTPackage.statusPath, encoding: .utf8)) ?? ""
        let stanzas = real.components(separatedBy: "\n\n")
        let removed = "Package: libnvinfer8\nStatus: deinstall ok config-files\nVersion: 8.6.2.3-1+cuda12.2\n"
        let status = (stanzas.prefix(stanzas.count / 2) + [removed, Self.jetpack61] + stanzas.dropFirst(stanzas.count / 2)).joined(separator: "\n\n")
        let found = try #require(TensorRTPackage.installed(major: 10, status: status))
        #expect(found == TensorRTPackage(name: "libnvinfer10", debianVersion: "10.3.0.30-1+cuda12.5"))
        #expect(TensorRTPackage.installed(major: 8, status: status) == nil, "removed, only its configuration files are left")
        if real.contains("Package: libc6\n") {
            #expect(TensorRTPackage.installed(major: 10) == nil, "this machine has no TensorRT package")
        }

        // TensorRT 10.3 links cudart statically and reports its build: the package adds the CUDA release.
        let v10 = TensorRTVersion(major: 10, minor: 3, patch: 0)
        let id = TensorRTBackend.identity(tensorrt: v10, build: 30, package: found, device: Self.orin)
        #expect(id.fields["tensorrt"] == "10.3.0.30" && id.fields["cuda"] == "12.5", "\(id.fields)")
        // TensorRT 8 reports no build: the package's; the cudart it loaded still wins for `cuda`.
        let id8 = TensorRTBackend.identity(tensorrt: p.version, cudaRuntime: 12020, package: p, device: Self.orin)
        #expect(id8.fields["tensorrt"] == "8.6.2.3" && id8.fields["cuda"] == "12.2")
        // A package of another version (a tar TensorRT found first) is not used: the driver's CUDA.
        let other = TensorRTBackend.identity(tensorrt: TensorRTVersion(major: 10, minor: 7, patch: 0), package: found, device: Self.orin)
        #expect(other.fields["tensorrt"] == "10.7.0" && other.fields["cuda"] == "12.6")
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
