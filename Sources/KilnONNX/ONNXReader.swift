import Foundation
import KilnCore

/// Reads ONNX `ModelProto` files and `TensorProto` (`.pb`) files from their protobuf wire format.
///
/// The decoder works on a borrowed buffer, validates every length against the bytes left before
/// allocating, caps the nesting of subgraphs at `maxGraphDepth`, and reports malformed input as
/// an `ONNXError` carrying the byte offset. Sparse initializers and tensor segments are refused.
public enum ONNXReader {
    /// The deepest nesting of subgraphs (If/Loop/Scan bodies) accepted.
    public static let maxGraphDepth = 32

    /// Decodes a model from `bytes`.
    ///
    /// `baseDirectory` is the model file's directory, used to resolve tensors stored as external
    /// data; without it such tensors are refused with an error saying so.
    public static func model(_ bytes: [UInt8], baseDirectory: URL? = nil) throws(ONNXError) -> ONNXModel {
        try decode(bytes, baseDirectory) { (decoder, range) throws(ONNXError) in try decoder.model(range) }
    }

    /// Decodes one serialized `TensorProto` (ONNX's `input_0.pb` test-data format).
    ///
    /// `baseDirectory` resolves external data as for models.
    public static func tensor(_ bytes: [UInt8], baseDirectory: URL? = nil) throws(ONNXError) -> ONNXTensor {
        try decode(bytes, baseDirectory) { (decoder, range) throws(ONNXError) in try decoder.tensor(range) }
    }

    /// Reads and decodes the model file at `url`; external data resolves beside it.
    public static func model(contentsOf url: URL) throws(ONNXError) -> ONNXModel {
        try decode(contentsOf: url) { (bytes, directory) throws(ONNXError) in try model(bytes, baseDirectory: directory) }
    }

    /// Reads and decodes the `.pb` TensorProto file at `url`.
    public static func tensor(contentsOf url: URL) throws(ONNXError) -> ONNXTensor {
        try decode(contentsOf: url) { (bytes, directory) throws(ONNXError) in try tensor(bytes, baseDirectory: directory) }
    }

    /// Runs `body` on a decoder over all of `bytes`.
    private static func decode<T>(_ bytes: [UInt8], _ baseDirectory: URL?,
                                  _ body: (ONNXDecoder, Range<Int>) throws(ONNXError) -> T) throws(ONNXError) -> T {
        let result: Result<T, ONNXError> = bytes.withUnsafeBytes { raw in
            let decoder = ONNXDecoder(bytes: raw, baseDirectory: baseDirectory)
            do throws(ONNXError) {
                return .success(try body(decoder, 0..<raw.count))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Reads the file at `url` and decodes its bytes with `body` (external data resolving beside
    /// it); an error names the file.
    private static func decode<T>(contentsOf url: URL, _ body: ([UInt8], URL) throws(ONNXError) -> T) throws(ONNXError) -> T {
        let bytes = try read(url)
        do {
            return try body(bytes, url.deletingLastPathComponent())
        } catch {
            var error = error
            error.file = url.path
            throw error
        }
    }

    static func read(_ url: URL) throws(ONNXError) -> [UInt8] {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ONNXError("no such file; check the path", offset: nil, file: url.path, exitCode: .usage)
        }
        do {
            return [UInt8](try Data(contentsOf: url, options: .mappedIfSafe))
        } catch {
            throw ONNXError("cannot read: \(error.localizedDescription)", offset: nil, file: url.path, exitCode: .runtimeFailure)
        }
    }
}

/// The message decoders behind `ONNXReader`; one per input buffer.
struct ONNXDecoder {
    let bytes: UnsafeRawBufferPointer
    let baseDirectory: URL?

    func cursor(_ range: Range<Int>) -> WireCursor { WireCursor(bytes, range) }

    /// Appends the raw bytes of the field that started at `start` (key included) up to `end`.
    func keep(_ unmodelled: inout [UInt8], _ start: Int, _ end: Int) {
        unmodelled.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
    }

    func model(_ range: Range<Int>) throws(ONNXError) -> ONNXModel {
        var c = cursor(range)
        var model = ONNXModel(irVersion: 0, opsetImports: [:], producerName: "", graph: ONNXGraph())
        var sawGraph = false
        while case let (field, wire, start)? = try c.nextField() {
            switch field {
            case 1: model.irVersion = try c.int64(wire, field: field, in: "ModelProto", at: start)
            case 2: model.producerName = try c.string(wire, field: field, in: "ModelProto", at: start)
            case 3: model.producerVersion = try c.string(wire, field: field, in: "ModelProto", at: start)
            case 4: model.domain = try c.string(wire, field: field, in: "ModelProto", at: start)
            case 5: model.modelVersion = try c.int64(wire, field: field, in: "ModelProto", at: start)
            case 6: model.docString = try c.string(wire, field: field, in: "ModelProto", at: start)
            case 7:
                model.graph = try graph(try c.payload(wire, field: field, in: "ModelProto", at: start), depth: 0)
                sawGraph = true
            case 8:
                let (domain, version) = try opset(try c.payload(wire, field: field, in: "ModelProto", at: start))
                model.opsetImports[domain] = version
            case 14:
                let (key, value) = try entry(try c.payload(wire, field: field, in: "ModelProto", at: start), "metadata_props")
                model.metadata[key] = value
            default:
                try c.skip(wire)
                keep(&model.unmodelledFields, start, c.position)
            }
        }
        guard sawGraph else {
            throw ONNXError("ModelProto has no graph (field 7); is this an ONNX model file?", offset: range.lowerBound)
        }
        return model
    }

    func opset(_ range: Range<Int>) throws(ONNXError) -> (String, Int64) {
        var c = cursor(range)
        var domain = "", version: Int64 = 0
        while case let (field, wire, start)? = try c.nextField() {
            switch field {
            case 1: domain = try c.string(wire, field: field, in: "OperatorSetIdProto", at: start)
            case 2: version = try c.int64(wire, field: field, in: "OperatorSetIdProto", at: start)
            default: try c.skip(wire)
            }
        }
        return (domain, version)
    }

    /// A `StringStringEntryProto`.
    func entry(_ range: Range<Int>, _ what: String) throws(ONNXError) -> (String, String) {
        var c = cursor(range)
        var key = "", value = ""
        while case let (field, wire, start)? = try c.nextField() {
            switch field {
            case 1: key = try c.string(wire, field: field, in: what, at: start)
            case 2: value = try c.string(wire, field: field, in: what, at: start)
            default: try c.skip(wire)
            }
        }
        return (key, value)
    }

    func graph(_ range: Range<Int>, depth: Int) throws(ONNXError) -> ONNXGraph {
        guard depth <= ONNXReader.maxGraphDepth else {
            throw ONNXError("subgraphs nested deeper than \(ONNXReader.maxGraphDepth) levels", offset: range.lowerBound)
        }
        var c = cursor(range)
        var graph = ONNXGraph()
        while case let (field, wire, start)? = try c.nextField() {
            switch field {
            case 1: graph.nodes.append(try node(try c.payload(wire, field: field, in: "GraphProto", at: start), depth: depth))
            case 2: graph.name = try c.string(wire, field: field, in: "GraphProto", at: start)
            case 5: graph.initializers.append(try tensor(try c.payload(wire, field: field, in: "GraphProto", at: start)))
            case 10: graph.docString = try c.string(wire, field: field, in: "GraphProto", at: start)
            case 11: graph.inputs.append(try valueInfo(try c.payload(wire, field: field, in: "GraphProto", at: start)))
            case 12: graph.outputs.append(try valueInfo(try c.payload(wire, field: field, in: "GraphProto", at: start)))
            case 13: graph.valueInfos.append(try valueInfo(try c.payload(wire, field: field, in: "GraphProto", at: start)))
            case 15:
                throw ONNXError("graph '\(graph.name)' has sparse initializers, which Kiln does not support; densify them (onnx.numpy_helper) and re-export", offset: start)
            default:
                try c.skip(wire)
                keep(&graph.unmodelledFields, start, c.position)
            }
        }
        return graph
    }

    func node(_ range: Range<Int>, depth: Int) throws(ONNXError) -> ONNXNode {
        var c = cursor(range)
        var node = ONNXNode(opType: "", inputs: [], outputs: [])
        while case let (field, wire, start)? = try c.nextField() {
            switch field {
            case 1: node.inputs.append(try c.string(wire, field: field, in: "NodeProto", at: start))
            case 2: node.outputs.append(try c.string(wire, field: field, in: "NodeProto", at: start))
            case 3: node.name = try c.string(wire, field: field, in: "NodeProto", at: start)
            case 4: node.opType = try c.string(wire, field: field, in: "NodeProto", at: start)
            case 5:
                let payload = try c.payload(wire, field: field, in: "NodeProto", at: start)
                if let (name, value) = try attribute(payload, depth: depth) {
                    node.attributes[name] = value
                } else {
                    keep(&node.unmodelledFields, start, c.position)
                }
            case 6: node.docString = try c.string(wire, field: field, in: "NodeProto", at: start)
            case 7: node.domain = try c.string(wire, field: field, in: "NodeProto", at: start)
            default:
                try c.skip(wire)
                keep(&node.unmodelledFields, start, c.position)
            }
        }
        if node.opType.isEmpty {
            throw ONNXError("node '\(node.name)' has no op_type", offset: range.lowerBound)
        }
        return node
    }

    /// An `AttributeProto`; nil for kinds Kiln keeps verbatim (sparse tensors, type protos, references).
    func attribute(_ range: Range<Int>, depth: Int) throws(ONNXError) -> (String, ONNXAttribute)? {
        var c = cursor(range)
        let what = "AttributeProto"
        var name = ""
        var type: Int64?
        var f: Float?, i: Int64?, s: String?, t: ONNXTensor?, g: ONNXGraph?
        var floats: [UInt32] = [], ints: [Int64] = [], strings: [String] = []
        var tensors: [ONNXTensor] = [], graphs: [ONNXGraph] = []
        var unmodelled = false
        while case let (field, wire, start)? = try c.nextField() {
            switch field {
            case 1: name = try c.string(wire, field: field, in: what, at: start)
            case 20: type = try c.int64(wire, field: field, in: what, at: start)
            case 2:
                try c.expect(wire, .fixed32, field: field, in: what, at: start)
                f = Float(bitPattern: try c.fixed32())
            case 3: i = try c.int64(wire, field: field, in: what, at: start)
            case 4: s = try c.string(wire, field: field, in: what, at: start)
            case 5: t = try tensor(try c.payload(wire, field: field, in: what, at: start))
            case 6: g = try graph(try c.payload(wire, field: field, in: what, at: start), depth: depth + 1)
            case 7: try c.appendFixed(wire, field: field, in: what, at: start, to: &floats)
            case 8: try c.appendVarints(wire, field: field, in: what, at: start, to: &ints) { Int64(bitPattern: $0) }
            case 9: strings.append(try c.string(wire, field: field, in: what, at: start))
            case 10: tensors.append(try tensor(try c.payload(wire, field: field, in: what, at: start)))
            case 11: graphs.append(try graph(try c.payload(wire, field: field, in: what, at: start), depth: depth + 1))
            case 13: try c.skip(wire)  // doc_string: not modelled
            case 21, 22, 23, 14, 15:
                // ref_attr_name, sparse_tensor(s), tp, type_protos: kept verbatim by the caller.
                try c.skip(wire)
                unmodelled = true
            default:
                try c.skip(wire)
            }
        }
        if unmodelled { return nil }
        let value: ONNXAttribute
        switch type {
        case 1: value = .float(f ?? 0)
        case 2: value = .int(i ?? 0)
        case 3: value = .string(s ?? "")
        case 4:
            guard let t else { throw ONNXError("attribute '\(name)' of type TENSOR has no tensor", offset: range.lowerBound) }
            value = .tensor(t)
        case 5:
            guard let g else { throw ONNXError("attribute '\(name)' of type GRAPH has no graph", offset: range.lowerBound) }
            value = .graph(g)
        case 6: value = .floats(floats.map { Float(bitPattern: $0) })
        case 7: value = .ints(ints)
        case 8: value = .strings(strings)
        case 9: value = .tensors(tensors)
        case 10: value = .graphs(graphs)
        case 11, 12, 13, 14: return nil
        case nil, 0:
            // IR < 2 files carry no type: infer it from the field that is set.
            if let f { value = .float(f) }
            else if let i { value = .int(i) }
            else if let s { value = .string(s) }
            else if let t { value = .tensor(t) }
            else if let g { value = .graph(g) }
            else if !floats.isEmpty { value = .floats(floats.map { Float(bitPattern: $0) }) }
            else if !ints.isEmpty { value = .ints(ints) }
            else if !strings.isEmpty { value = .strings(strings) }
            else if !tensors.isEmpty { value = .tensors(tensors) }
            else if !graphs.isEmpty { value = .graphs(graphs) }
            else { throw ONNXError("attribute '\(name)' has no type and no value", offset: range.lowerBound) }
        case let other?:
            throw ONNXError("attribute '\(name)' has unknown type \(other)", offset: range.lowerBound)
        }
        return (name, value)
    }
}
