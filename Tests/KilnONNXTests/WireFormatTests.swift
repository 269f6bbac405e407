import Foundation
import KilnCore
@testable import KilnONNX
import Testing

/// A TensorProto written field by field, for feeding the reader exact wire encodings.
func tensorProto(_ build: (inout WireWriter) -> Void) -> [UInt8] {
    var w = WireWriter()
    build(&w)
    return w.bytes
}

/// The protobuf wire format as ONNX files use it: every encoding the spec allows decodes the same.
@Suite struct WireFormatTests {
    @Test func packedAndUnpackedRepeatedFieldsDecodeTheSame() throws {
        let packed = tensorProto { w in
            w.packedInt64s(1, [2, 3])
            w.int64(2, 7)
            w.packedInt64s(7, [1, -2, 3, -4, 5, 1 << 40])
        }
        let unpacked = tensorProto { w in
            w.int64(1, 2); w.int64(1, 3)
            w.int64(2, 7)
            for v: Int64 in [1, -2, 3, -4, 5, 1 << 40] { w.int64(7, v) }
        }
        let a = try ONNXReader.tensor(packed), b = try ONNXReader.tensor(unpacked)
        #expect(a == b)
        #expect(a.tensor.shape == [2, 3])
        #expect(a.tensor.values(as: Int64.self) == [1, -2, 3, -4, 5, 1 << 40])
    }

    @Test func floatDataPackedAndUnpackedAndRawDataDecodeTheSame() throws {
        let values: [Float] = [1.5, -2, .infinity, 0]
        let packed = tensorProto { w in w.packedInt64s(1, [4]); w.int64(2, 1); w.packedFloats(4, values) }
        let unpacked = tensorProto { w in
            w.packedInt64s(1, [4]); w.int64(2, 1)
            for v in values { w.fixed32(4, v.bitPattern) }
        }
        let raw = tensorProto { w in
            w.packedInt64s(1, [4]); w.int64(2, 1)
            w.bytes(9, values.withUnsafeBytes { Array($0) })
        }
        let expected = Tensor(shape: [4], floats: values)
        for bytes in [packed, unpacked, raw] {
            #expect(try ONNXReader.tensor(bytes).tensor == expected)
        }
    }

    @Test func halfAndNarrowTypesInInt32DataDecodeToDenseLittleEndian() throws {
        let half: [Float16] = [1, -0.5, 65504]
        let f16 = try ONNXReader.tensor(tensorProto { w in
            w.packedInt64s(1, [3]); w.int64(2, 10)
            w.packedInt64s(5, half.map { Int64($0.bitPattern) })
        })
        #expect(f16.tensor.elementType == .float16)
        #expect(f16.tensor.floatValues() == [1, -0.5, 65504])

        let bf16 = try ONNXReader.tensor(tensorProto { w in
            w.packedInt64s(1, [2]); w.int64(2, 16)
            w.packedInt64s(5, [0x3FC0, 0xC000])  // 1.5, -2
        })
        #expect(bf16.tensor.floatValues() == [1.5, -2])

        let int8 = try ONNXReader.tensor(tensorProto { w in
            w.packedInt64s(1, [3]); w.int64(2, 3); w.packedInt64s(5, [-128, 0, 127])
        })
        #expect(int8.tensor.values(as: Int8.self) == [-128, 0, 127])

        let bools = try ONNXReader.tensor(tensorProto { w in
            w.packedInt64s(1, [3]); w.int64(2, 9); w.packedInt64s(5, [1, 0, 1])
        })
        #expect(bools.tensor.bytes == [1, 0, 1])

        // int4: each int32_data value carries one byte holding two elements, low nibble first.
        let int4 = try ONNXReader.tensor(tensorProto { w in
            w.packedInt64s(1, [3]); w.int64(2, 22); w.packedInt64s(5, [0x21, 0x0F])
        })
        #expect(int4.tensor.bytes == [0x21, 0x0F])

        let u32 = try ONNXReader.tensor(tensorProto { w in
            w.packedInt64s(1, [2]); w.int64(2, 12); w.packedInt64s(11, [7, 0xFFFF_FFFF])
        })
        #expect(u32.tensor.values(as: UInt32.self) == [7, 0xFFFF_FFFF])

        let c64 = try ONNXReader.tensor(tensorProto { w in
            w.packedInt64s(1, [1]); w.int64(2, 14); w.packedFloats(4, [1, 2])
        })
        #expect(c64.tensor.values(as: Float.self) == [1, 2])

        let strings = try ONNXReader.tensor(tensorProto { w in
            w.packedInt64s(1, [2]); w.int64(2, 8); w.string(6, "a"); w.string(6, "βγ")
        })
        #expect(strings.tensor.strings == ["a", "βγ"])
    }

    @Test func unknownFieldsAreSkippedAndWrittenBackVerbatim() throws {
        let bytes = tensorProto { w in
            w.int64(2, 1)
            w.int64(99, 5)                       // unknown varint
            w.fixed32(98, 1)                     // unknown fixed32
            w.key(97, .fixed64); w.raw([1, 2, 3, 4, 5, 6, 7, 8])
            w.string(96, "future")               // unknown length-delimited
            w.bytes(9, [0, 0, 128, 63])
        }
        let tensor = try ONNXReader.tensor(bytes)
        #expect(tensor.tensor.floatValues() == [1])
        let again = try ONNXReader.tensor(ONNXWriter.serialize(tensor))
        #expect(again == tensor)
        #expect(ONNXWriter.serialize(again).count == ONNXWriter.serialize(tensor).count)
    }

    @Test func everyAttributeKindRoundTrips() throws {
        var sub = ONNXGraphBuilder(name: "body")
        sub.input("a", .float32, [1])
        sub.output(sub.node("Relu", ["a"]), .float32, [1])
        let t = ONNXTensor(name: "t", tensor: Tensor(shape: [2], floats: [1, 2]))
        var b = ONNXGraphBuilder(name: "g")
        b.input("x", .float32, [nil, 2], names: ["batch", nil])
        let y = b.node("Custom", ["x", ""], domain: "kiln.test", attributes: [
            "f": .float(0.25), "i": .int(-3), "s": .string("héllo"), "t": .tensor(t), "g": .graph(sub.graph),
            "fs": .floats([1, 2.5]), "is": .ints([-1, 0, 1 << 50]), "ss": .strings(["x", ""]),
            "ts": .tensors([t, t]), "gs": .graphs([sub.graph]), "empty": .ints([]),
        ])
        b.output(y, .float32, [nil, 2], names: ["batch", nil])
        var model = b.model(opset: 17)
        model.opsetImports["kiln.test"] = 1
        model.metadata = ["author": "kiln", "note": "line1\nline2"]
        let again = try ONNXReader.model(ONNXWriter.serialize(model))
        #expect(again == model)
        #expect(again.graph.nodes[0].attributes["empty"]?.ints == [])
        #expect(again.graph.nodes[0].inputs == ["x", ""])
        #expect(again.graph.inputs[0].descriptor?.dimensionNames == ["batch", nil])
    }

    @Test func nonTensorAndUnknownRankTypesArePreservedRaw() throws {
        // TypeProto { sequence_type (4) { elem_type { tensor_type { elem_type: 1 } } } }
        var seq = WireWriter()
        seq.message(4) { s in s.message(1) { e in e.message(1) { t in t.int64(1, 1) } } }
        // TypeProto { tensor_type { elem_type: 1 } }  (no shape: unknown rank)
        var unranked = WireWriter()
        unranked.message(1) { t in t.int64(1, 1) }
        var g = ONNXGraph(name: "g")
        g.inputs = [ONNXValueInfo(name: "s", descriptor: nil, typeProto: seq.bytes),
                    ONNXValueInfo(name: "u", descriptor: nil, typeProto: unranked.bytes)]
        g.outputs = [ONNXValueInfo(name: "s", descriptor: nil)]
        let model = ONNXModel(graph: g)
        let again = try ONNXReader.model(ONNXWriter.serialize(model))
        #expect(again == model)
        #expect(again.graph.inputs.allSatisfy { $0.descriptor == nil })
    }
}
