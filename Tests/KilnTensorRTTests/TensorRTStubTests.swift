import Foundation
import KilnCore
import KilnInference
@testable import KilnTensorRT
import KilnTestSupport
import Testing

@Suite("TensorRT without TensorRT: clear errors", .enabled(if: !TensorRTLibrary.compiledWithHeaders))
struct TensorRTStubTests {
    @Test("the stub bridge says it was built without TensorRT headers and how to fix it")
    func stubBridge() {
        #expect(TensorRTLibrary.headerVersion == nil)
        #expect { try TensorRTLibrary() } throws: { error in
            guard let e = error as? TensorRTError else { return false }
            guard let reason = TensorRTLibrary.stubReason else { return false }
            return e.kind == .unavailable && e.message.contains(reason) && reason.contains("rebuild Kiln")
        }
    }

    @Test("probing a libnvinfer that is not there names the library")
    func probeMissing() throws {
        let e = try #require(throws: TensorRTError.self) { try TensorRTLibrary.probe(libraryPath: "/nonexistent/libnvinfer.so.10") }
        #expect(e.kind == .libraryNotFound && e.message.contains("libnvinfer"), "\(e)")
    }

    @Test("the backend reports itself unavailable with a reason")
    func backendUnavailable() {
        guard case .unavailable(let reason) = TensorRTBackend(builder: IsolatedBuilder(child: EngineBuildChildCommand(executable: "/bin/false", arguments: []))).availability() else {
            Issue.record("TensorRT backend claims to be available without TensorRT")
            return
        }
        #expect(!reason.isEmpty)
    }

    @Test("kiln build-engine without TensorRT or trtexec reports 'unavailable' over the protocol")
    func childReportsUnavailable() throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-stub")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("m.onnx")
        try Data([8, 7]).write(to: model)
        let request = EngineBuildRequest(modelPath: model.path, enginePath: dir.appendingPathComponent("m.plan").path,
                                         options: BuildOptions(precision: .fp16))
        let requestURL = dir.appendingPathComponent("request.json")
        try JSONEncoder().encode(request).write(to: requestURL)
        let run = try TestEnvironment.run(TestEnvironment.kilnExecutable, ["build-engine", "--request", requestURL.path, "--workspace", "268435456"],
                                          environment: ["PATH": "/usr/bin:/bin"])
        #expect(run.status == 1)
        let event = try #require(run.stdout.split(separator: "\n").compactMap { EngineBuildEvent.parse(String($0)) }.last)
        #expect(event.event == "result")
        #expect(event.status == "unavailable")
        #expect(event.message?.contains("without TensorRT headers") == true)
        #expect(!FileManager.default.fileExists(atPath: request.enginePath))
    }
}

@Suite("TensorRT engine identity in cache keys")
struct TensorRTIdentityTests {
    /// The Orin the cache-key tests use.
    static let orin = TestDevices.orinNano

    @Test("the identity is TensorRT's version plus the device's key fields")
    func composition() {
        let id = TensorRTBackend.identity(tensorrt: TensorRTVersion(major: 10, minor: 3, patch: 0), device: Self.orin)
        #expect(id.backend == "tensorrt")
        #expect(id.fields == ["tensorrt": "10.3.0", "device": "Orin", "sm": "87", "sm_count": "8", "cuda": "12.6"])
        #expect(id.description == "tensorrt cuda=12.6 device=Orin sm=87 sm_count=8 tensorrt=10.3.0")
    }

    @Test("a TensorRT upgrade or another board changes the identity")
    func invalidation() {
        let base = TensorRTBackend.identity(tensorrt: TensorRTVersion(major: 8, minor: 6, patch: 2), device: Self.orin)
        #expect(base != TensorRTBackend.identity(tensorrt: TensorRTVersion(major: 10, minor: 3, patch: 0), device: Self.orin))
        var agx = Self.orin
        agx.multiprocessorCount = 16
        #expect(base != TensorRTBackend.identity(tensorrt: TensorRTVersion(major: 8, minor: 6, patch: 2), device: agx))
        var sameModel = Self.orin
        sameModel.uuid = "GPU-b"
        #expect(base == TensorRTBackend.identity(tensorrt: TensorRTVersion(major: 8, minor: 6, patch: 2), device: sameModel))
    }

    @Test("timing caches are keyed by TensorRT version and device")
    func timingCachePath() {
        let id = TensorRTBackend.identity(tensorrt: TensorRTVersion(major: 10, minor: 3, patch: 0), device: Self.orin)
        #expect(TensorRTBackend.timingCachePath(directory: "/var/cache/kiln/timing", identity: id)
            == "/var/cache/kiln/timing/timing-trt10.3.0-sm87-8-Orin.cache")
    }
}

@Suite("What the TensorRT bridge was compiled against")
struct TensorRTBridgeDescriptionTests {
    @Test("kiln --version names the TensorRT headers the bridge was compiled against, or why it is the stub")
    func versionNamesBridge() throws {
        let run = try TestEnvironment.run(TestEnvironment.kilnExecutable, ["--version"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("TensorRT bridge: \(TensorRTLibrary.bridgeDescription)"))
        if let headers = TensorRTLibrary.headerVersion {
            #expect(run.stdout.contains("TensorRT \(headers) headers"))
        } else {
            let reason = try #require(TensorRTLibrary.stubReason)
            #expect(run.stdout.contains("stub (\(reason))"))
        }
    }
}
