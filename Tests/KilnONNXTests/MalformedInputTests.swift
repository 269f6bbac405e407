import Foundation
import KilnCore
@testable import KilnONNX
import Testing

/// Malformed input must give a typed error with the byte offset: never a crash, never an
/// allocation larger than the bytes that back it.
@Suite struct MalformedInputTests {
    func error(_ body: () throws -> Void) -> ONNXError? {
        do { try body(); return nil } catch { return error as? ONNXError }
    }

    @Test func truncatedVarintReportsItsOffset() {
        let e = error { _ = try ONNXReader.tensor([0x10, 0x80, 0x80]) }
        #expect(e?.offset == 1)
        #expect(e?.message.contains("truncated varint") == true)
        #expect(e?.exitCode == .invalidModel)
    }

    @Test func lengthBeyondTheRemainingBytesIsRefusedBeforeAllocating() {
        // raw_data claiming 2^40 bytes with 3 bytes present.
        var w = WireWriter()
        w.int64(2, 1)
        w.key(9, .lengthDelimited); w.varint(1 << 40); w.raw([1, 2, 3])
        let e = error { _ = try ONNXReader.tensor(w.bytes) }
        #expect(e?.offset == 3)
        #expect(e?.message.contains("exceeds") == true)
    }

    @Test func hugeDimsWithLittleDataAreRefused() {
        let bytes = tensorProto { w in
            w.packedInt64s(1, [1 << 20, 1 << 20, 1 << 20]); w.int64(2, 1); w.bytes(9, [0, 0, 0, 0])
        }
        let e = error { _ = try ONNXReader.tensor(bytes) }
        #expect(e != nil)
        let overflow = tensorProto { w in w.packedInt64s(1, [Int64.max, Int64.max]); w.int64(2, 1) }
        #expect(error { _ = try ONNXReader.tensor(overflow) } != nil)
        let negative = tensorProto { w in w.packedInt64s(1, [-1]); w.int64(2, 1) }
        #expect(error { _ = try ONNXReader.tensor(negative) }?.message.contains("negative") == true)
    }

    @Test func rawDataOfTheWrongSizeNamesTheTensor() {
        let bytes = tensorProto { w in
            w.packedInt64s(1, [2, 2]); w.int64(2, 1); w.string(8, "conv1.weight"); w.bytes(9, [0, 0, 0, 0])
        }
        let e = error { _ = try ONNXReader.tensor(bytes) }
        #expect(e?.message.contains("conv1.weight") == true)
        #expect(e?.message.contains("16") == true)
    }

    @Test func typedDataOfTheWrongCountIsRefused() {
        let bytes = tensorProto { w in w.packedInt64s(1, [3]); w.int64(2, 1); w.packedFloats(4, [1, 2]) }
        #expect(error { _ = try ONNXReader.tensor(bytes) }?.message.contains("float_data has 2") == true)
    }

    @Test func groupsAndBadWireTypesAreRefused() {
        #expect(error { _ = try ONNXReader.tensor([0x0B]) }?.message.contains("wire type 3") == true)
        #expect(error { _ = try ONNXReader.tensor([0x0F]) }?.message.contains("wire type 7") == true)
        #expect(error { _ = try ONNXReader.tensor([0x00]) }?.message.contains("field number 0") == true)
    }

    @Test func aModelWithoutAGraphIsRefused() {
        var w = WireWriter()
        w.int64(1, 8)
        let e = error { _ = try ONNXReader.model(w.bytes) }
        #expect(e?.message.contains("no graph") == true)
        #expect(error { _ = try ONNXReader.model([]) } != nil)
    }

    @Test func deeplyNestedSubgraphsAreRefusedWithoutExhaustingTheStack() {
        // graph { node { attribute { g: graph { node { ... } } } } } nested 10,000 levels.
        var inner: [UInt8] = []
        for _ in 0..<10_000 {
            var attribute = WireWriter()
            attribute.string(1, "body"); attribute.int64(20, 5); attribute.bytes(6, inner)
            var node = WireWriter()
            node.string(4, "If"); node.bytes(5, attribute.bytes)
            var graph = WireWriter()
            graph.bytes(1, node.bytes)
            inner = graph.bytes
            if inner.count > 4_000_000 { break }
        }
        var model = WireWriter()
        model.int64(1, 8); model.bytes(7, inner)
        let e = error { _ = try ONNXReader.model(model.bytes) }
        #expect(e?.message.contains("nested deeper") == true)
    }

    @Test func sparseInitializersAndSegmentsAreRefusedClearly() {
        var graph = WireWriter()
        graph.string(2, "g"); graph.bytes(15, [])
        var model = WireWriter()
        model.int64(1, 8); model.bytes(7, graph.bytes)
        #expect(error { _ = try ONNXReader.model(model.bytes) }?.message.contains("sparse initializers") == true)
        let segmented = tensorProto { w in w.int64(2, 1); w.bytes(3, []) }
        #expect(error { _ = try ONNXReader.tensor(segmented) }?.message.contains("segments") == true)
    }

    @Test func everyTruncationOfARealModelFailsCleanly() throws {
        var b = ONNXGraphBuilder(name: "t")
        b.input("x", .float32, [1, 4])
        b.initializer("w", shape: [4, 4], floats: (0..<16).map(Float.init))
        b.output(b.node("MatMul", ["x", "w"]), .float32, [1, 4])
        let bytes = ONNXWriter.serialize(b.model())
        var failures = 0
        for n in 0..<bytes.count {
            do { _ = try ONNXReader.model(Array(bytes[0..<n])) } catch { failures += 1 }
        }
        // Most prefixes are malformed; none may crash, and the whole file still reads.
        #expect(failures > bytes.count / 2)
        #expect(try ONNXReader.model(bytes).graph.initializers.count == 1)
    }
}
