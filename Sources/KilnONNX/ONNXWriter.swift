import KilnCore

/// Serializes ONNX models and tensors to protobuf wire format.
///
/// Output is deterministic: dictionary-backed fields (opset imports, metadata, attributes) are
/// written sorted by key; tensor data is always written as `raw_data` (strings as `string_data`);
/// fields kept verbatim by the reader (`unmodelledFields`, `typeProto`) are written back as they were.
/// Tensors the reader loaded from external data are written embedded.
public enum ONNXWriter {
    /// The bytes of `model` as an `.onnx` file.
    public static func serialize(_ model: ONNXModel) -> [UInt8] {
        var w = WireWriter()
        w.bytes.reserveCapacity(model.graph.initializers.reduce(65_536) { $0 + $1.tensor.bytes.count + 64 })
        w.int64(1, model.irVersion)
        for domain in model.opsetImports.keys.sorted() {
            w.message(8) { o in
                o.string(1, domain)
                o.int64(2, model.opsetImports[domain]!)
            }
        }
        w.stringIfSet(2, model.producerName)
        w.stringIfSet(3, model.producerVersion)
        w.stringIfSet(4, model.domain)
        w.int64IfSet(5, model.modelVersion)
        w.stringIfSet(6, model.docString)
        w.message(7) { write(model.graph, to: &$0) }
        for key in model.metadata.keys.sorted() {
            w.message(14) { e in
                e.string(1, key)
                e.string(2, model.metadata[key]!)
            }
        }
        w.raw(model.unmodelledFields)
        return w.bytes
    }

    /// The bytes of `tensor` as a `TensorProto` (`.pb`) file.
    public static func serialize(_ tensor: ONNXTensor) -> [UInt8] {
        var w = WireWriter()
        w.bytes.reserveCapacity(tensor.tensor.bytes.count + 64)
        write(tensor, to: &w)
        return w.bytes
    }

    static func write(_ graph: ONNXGraph, to w: inout WireWriter) {
        for node in graph.nodes { w.message(1) { write(node, to: &$0) } }
        w.stringIfSet(2, graph.name)
        for t in graph.initializers { w.message(5) { write(t, to: &$0) } }
        w.stringIfSet(10, graph.docString)
        for v in graph.inputs { w.message(11) { write(v, to: &$0) } }
        for v in graph.outputs { w.message(12) { write(v, to: &$0) } }
        for v in graph.valueInfos { w.message(13) { write(v, to: &$0) } }
        w.raw(graph.unmodelledFields)
    }

    static func write(_ node: ONNXNode, to w: inout WireWriter) {
        for i in node.inputs { w.string(1, i) }
        for o in node.outputs { w.string(2, o) }
        w.stringIfSet(3, node.name)
        w.string(4, node.opType)
        for name in node.attributes.keys.sorted() {
            w.message(5) { write(name, node.attributes[name]!, to: &$0) }
        }
        w.stringIfSet(6, node.docString)
        w.stringIfSet(7, node.domain)
        w.raw(node.unmodelledFields)
    }

    static func write(_ name: String, _ value: ONNXAttribute, to w: inout WireWriter) {
        w.string(1, name)
        switch value {
        case .float(let f): w.fixed32(2, f.bitPattern)
        case .int(let i): w.int64(3, i)
        case .string(let s): w.string(4, s)
        case .tensor(let t): w.message(5) { write(t, to: &$0) }
        case .graph(let g): w.message(6) { write(g, to: &$0) }
        case .floats(let fs): w.packedFloats(7, fs)
        case .ints(let is_): w.packedInt64s(8, is_)
        case .strings(let ss): for s in ss { w.string(9, s) }
        case .tensors(let ts): for t in ts { w.message(10) { write(t, to: &$0) } }
        case .graphs(let gs): for g in gs { w.message(11) { write(g, to: &$0) } }
        }
        w.int64(20, Int64(value.typeCode))
    }

    static func write(_ tensor: ONNXTensor, to w: inout WireWriter) {
        w.packedInt64s(1, tensor.tensor.shape.map { Int64($0) })
        w.int64(2, Int64(tensor.tensor.elementType.rawValue))
        if tensor.tensor.elementType == .string {
            for s in tensor.tensor.strings { w.string(6, s) }
        }
        w.stringIfSet(8, tensor.name)
        if tensor.tensor.elementType != .string {
            w.bytes(9, tensor.tensor.bytes)
        }
        w.stringIfSet(12, tensor.docString)
        w.raw(tensor.unmodelledFields)
    }

    static func write(_ info: ONNXValueInfo, to w: inout WireWriter) {
        w.string(1, info.name)
        if let raw = info.typeProto {
            w.bytes(2, raw)
        } else if let d = info.descriptor {
            w.message(2) { type in
                type.message(1) { t in
                    t.int64(1, Int64(d.elementType.rawValue))
                    t.message(2) { shape in
                        for (i, dim) in d.shape.enumerated() {
                            shape.message(1) { m in
                                if let dim {
                                    m.int64(1, Int64(dim))
                                } else if i < d.dimensionNames.count, let name = d.dimensionNames[i] {
                                    m.string(2, name)
                                }
                            }
                        }
                    }
                }
            }
        }
        w.stringIfSet(3, info.docString)
        w.raw(info.unmodelledFields)
    }
}
