import Foundation
import KilnCore
import KilnONNX
import KilnTestSupport
import Testing

/// A short, deterministic fuzzing run over both readers, seeded from the conformance data.
/// (`kiln-fuzz` runs the same loop for millions of executions.)
@Suite struct FuzzTests {
    @Test func twentyThousandMutatedConformanceFilesNeverCrashAndRoundTrip() throws {
        var seeds: [[UInt8]] = [ONNXWriter.serialize(DemoNet.model())]
        if let node = try ConformanceData.nodeDirectory() {
            for (i, testCase) in try ConformanceData.cases(in: node).enumerated() where i % 3 == 0 {
                seeds.append([UInt8](try Data(contentsOf: testCase.appendingPathComponent("model.onnx"))))
                if let pb = ConformanceData.tensorFiles(in: testCase).first {
                    seeds.append([UInt8](try Data(contentsOf: pb)))
                }
            }
        }
        var fuzzer = ONNXMutationFuzzer(seeds: seeds, seed: 20_000)
        let report = fuzzer.run(iterations: 20_000)
        #expect(report.executions == 20_000)
        #expect(report.roundTripFailures.isEmpty, "\(report.roundTripFailures.prefix(3))")
        // The mutations must leave some inputs valid, or the round-trip oracle tests nothing.
        #expect(report.acceptedModels + report.acceptedTensors > 100)
    }

    @Test func theSameSeedGeneratesTheSameInputs() {
        let seeds = [ONNXWriter.serialize(DemoNet.model())]
        var a = ONNXMutationFuzzer(seeds: seeds, seed: 7), b = ONNXMutationFuzzer(seeds: seeds, seed: 7)
        for _ in 0..<100 { #expect(a.nextInput() == b.nextInput()) }
    }
}
