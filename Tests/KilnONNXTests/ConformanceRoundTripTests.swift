import Foundation
import KilnCore
import KilnONNX
import KilnTestSupport
import Testing

/// Reads every model and TensorProto of ONNX's own conformance data, writes it back and reads it
/// again: the Swift reader and writer must agree with themselves on all of it.
@Suite struct ConformanceRoundTripTests {
    @Test func everyConformanceModelReadsWritesAndReadsBackEqual() throws {
        guard let node = try ConformanceData.nodeDirectory() else { return }
        var read = 0
        var failures: [String] = []
        for testCase in try ConformanceData.cases(in: node) {
            let file = testCase.appendingPathComponent("model.onnx")
            do {
                let model = try ONNXReader.model(contentsOf: file)
                let bytes = ONNXWriter.serialize(model)
                let again = try ONNXReader.model(bytes)
                if again != model { failures.append("\(testCase.lastPathComponent): re-read model differs") }
                if ONNXWriter.serialize(again) != bytes { failures.append("\(testCase.lastPathComponent): serialization is not a fixpoint") }
                read += 1
            } catch {
                failures.append("\(testCase.lastPathComponent): \(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.prefix(40).joined(separator: "\n"))")
        #expect(read > 1700)
    }

    @Test func everyConformanceTensorFileReadsWritesAndReadsBackEqual() throws {
        guard let node = try ConformanceData.nodeDirectory() else { return }
        var read = 0, nonTensor = 0
        var failures: [String] = []
        for testCase in try ConformanceData.cases(in: node) {
            let model = try ONNXReader.model(contentsOf: testCase.appendingPathComponent("model.onnx"))
            let inputs = model.graph.runtimeInputs
            for file in ConformanceData.tensorFiles(in: testCase) {
                // input_K.pb / output_K.pb hold a SequenceProto or OptionalProto when the value is not a tensor.
                let name = file.deletingPathExtension().lastPathComponent
                let parts = name.split(separator: "_")
                let values = parts.first == "input" ? inputs : model.graph.outputs
                if let k = Int(parts.last ?? ""), k < values.count, values[k].descriptor == nil, values[k].typeProto != nil,
                   !isTensorType(values[k].typeProto!) {
                    nonTensor += 1
                    continue
                }
                do {
                    let tensor = try ONNXReader.tensor(contentsOf: file)
                    let bytes = ONNXWriter.serialize(tensor)
                    let again = try ONNXReader.tensor(bytes)
                    if again != tensor { failures.append("\(file.path): re-read tensor differs") }
                    read += 1
                } catch {
                    failures.append("\(error)")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.prefix(40).joined(separator: "\n"))")
        #expect(read > 5000)
        print("read \(read) TensorProto files; skipped \(nonTensor) sequence/optional files")
    }

    /// True when a raw `TypeProto` is a tensor type (field 1), as opposed to sequence/map/optional.
    private func isTensorType(_ typeProto: [UInt8]) -> Bool {
        typeProto.first.map { $0 >> 3 == 1 } ?? false
    }
}
