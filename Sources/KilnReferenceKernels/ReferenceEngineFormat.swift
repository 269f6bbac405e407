import KilnCore
import KilnInference

/// The reference backend's engine file: a fixed header, the identity, a SHA-256 and the graph.
///
/// Layout (little-endian): magic `KILNREF\0`, format version (u32), identity (u32 length + UTF-8),
/// payload length (u64), payload SHA-256 (32 bytes), payload. The payload encodes the optimised
/// graph: value names, inputs/outputs with descriptors, constants and nodes with their op
/// (`ReferenceOp`'s name), the model's attributes and what the optimizer fused (`ConvFusion`).
/// Decoding checks every length against the bytes left before allocating.
///
/// Version 2 stores the fusion as typed fields; version 1 stored it as attributes named
/// `packed`, `weight_shape`, `activation`, `act_alpha` and `act_beta`, and is refused (the format
/// is part of the backend identity, so the engine cache builds a version-2 engine instead).
package enum ReferenceEngineFormat {
    static let magic: [UInt8] = Array("KILNREF".utf8) + [0]
    /// Bumped whenever the payload encoding or the meaning of any fused op changes.
    package static let version: UInt32 = 2

    package static func encode(_ g: RGraph, identity: BackendIdentity) -> [UInt8] {
        var p = ByteWriter()
        p.strings(g.valueNames)
        p.ints(g.inputs)
        p.ints(g.outputs)
        for d in g.inputDescriptors + g.outputDescriptors { p.descriptor(d) }
        p.int(g.constants.count)
        for slot in g.constants.keys.sorted() {
            p.int(slot)
            p.tensor(g.constants[slot]!)
        }
        p.int(g.nodes.count)
        for n in g.nodes {
            p.string(n.name)
            p.string(n.op.rawValue)
            p.int(n.opset)
            p.ints(n.inputs)
            p.ints(n.outputs)
            p.int(n.attributes.count)
            for key in n.attributes.keys.sorted() {
                p.string(key)
                p.attribute(n.attributes[key]!)
            }
            p.fusion(n.fusion)
        }
        var w = ByteWriter()
        w.bytes += magic
        w.u32(version)
        w.string(identity.description)
        w.u64(UInt64(p.bytes.count))
        w.bytes += SHA256.hexBytes(p.bytes)
        w.bytes += p.bytes
        return w.bytes
    }

    /// Decodes and validates an engine; refuses bad magic, version, identity, checksum or structure.
    package static func decode(_ bytes: [UInt8], expected identity: BackendIdentity) throws -> RGraph {
        var r = ByteReader(bytes)
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw InvalidModelError("reference engine: not a Kiln reference engine (bad magic); rebuild it with `kiln build --backend reference`")
        }
        r.offset = magic.count
        let v = try r.u32()
        guard v == version else {
            throw InvalidModelError("reference engine: format version \(v), this build reads \(version); rebuild the engine")
        }
        let id = try r.string()
        guard id == identity.description else {
            throw InvalidModelError("reference engine: built for `\(id)`, this machine is `\(identity.description)`; rebuild the engine here")
        }
        let length = try r.u64()
        let digest = try r.raw(32)
        guard length == UInt64(r.remaining) else {
            throw InvalidModelError("reference engine: payload is \(r.remaining) bytes, header says \(length) (truncated or corrupt)")
        }
        let payload = Array(bytes[r.offset...])
        guard SHA256.hexBytes(payload) == digest else {
            throw InvalidModelError("reference engine: checksum mismatch (corrupt engine file); rebuild it")
        }
        var p = ByteReader(payload)
        let names = try p.strings()
        let slots = names.count
        func checkSlot(_ s: Int, allowOmitted: Bool = false) throws -> Int {
            guard (allowOmitted && s == -1) || (s >= 0 && s < slots) else { throw InvalidModelError("reference engine: value slot \(s) out of range") }
            return s
        }
        let inputs = try p.ints().map { try checkSlot($0) }
        let outputs = try p.ints().map { try checkSlot($0) }
        var inD: [TensorDescriptor] = [], outD: [TensorDescriptor] = []
        for _ in inputs { inD.append(try p.descriptor()) }
        for _ in outputs { outD.append(try p.descriptor()) }
        var constants: [Int: RTensor] = [:]
        let nConst = try p.count(minBytes: 8)
        for _ in 0..<nConst {
            let s = try checkSlot(try p.int())
            constants[s] = try p.tensor()
        }
        let nNodes = try p.count(minBytes: 8)
        var nodes: [RNode] = []
        for _ in 0..<nNodes {
            let name = try p.string(), opName = try p.string(), opset = try p.int()
            guard let op = ReferenceOp(rawValue: opName) else {
                throw InvalidModelError("reference engine: unknown op \(opName); rebuild the engine")
            }
            let ins = try p.ints().map { try checkSlot($0, allowOmitted: true) }
            let outs = try p.ints().map { try checkSlot($0, allowOmitted: true) }
            var attributes: [String: RAttribute] = [:]
            let nAttr = try p.count(minBytes: 8)
            for _ in 0..<nAttr {
                let key = try p.string()
                attributes[key] = try p.attribute()
            }
            let fusion = try p.fusion()
            guard (op == .kilnConv) == (fusion.packedWeights != nil), op.isConvolution || fusion.isEmpty else {
                throw InvalidModelError("reference engine: node \(name) (\(op)) has a fusion its op cannot have (corrupt engine); rebuild it")
            }
            nodes.append(RNode(name: name, op: op, opset: opset, inputs: ins, outputs: outs, attributes: attributes, fusion: fusion))
        }
        guard p.remaining == 0 else { throw InvalidModelError("reference engine: \(p.remaining) trailing bytes") }
        var g = RGraph(valueNames: names, inputs: inputs, outputs: outputs, inputDescriptors: inD, outputDescriptors: outD,
                       constants: constants, nodes: nodes)
        try g.topologicallySort(name: "reference engine")
        return g
    }
}

extension SHA256 {
    static func hexBytes(_ bytes: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(bytes)
        return h.finalize()
    }
}

/// Appends little-endian primitives to a byte array.
struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func int(_ v: Int) { u64(UInt64(bitPattern: Int64(v))) }
    mutating func string(_ s: String) {
        let u = Array(s.utf8)
        int(u.count)
        bytes += u
    }
    mutating func strings(_ s: [String]) { int(s.count); for x in s { string(x) } }
    mutating func ints(_ v: [Int]) { int(v.count); for x in v { int(x) } }
    mutating func descriptor(_ d: TensorDescriptor) {
        string(d.name)
        u32(UInt32(bitPattern: d.elementType.rawValue))
        ints(d.shape.map { $0 ?? -1 })
        strings(d.dimensionNames.map { $0 ?? "" })
    }
    mutating func tensor(_ t: RTensor) {
        u32(UInt32(bitPattern: t.type.rawValue))
        ints(t.shape)
        if t.isFloat {
            int(t.f.count)
            t.f.withUnsafeBytes { bytes += $0 }
        } else if t.isString {
            strings(t.s)
        } else {
            int(t.i.count)
            t.i.withUnsafeBytes { bytes += $0 }
        }
    }
    mutating func attribute(_ a: RAttribute) {
        switch a {
        case .int(let v): bytes.append(1); u64(UInt64(bitPattern: v))
        case .float(let v): bytes.append(2); u32(v.bitPattern)
        case .string(let v): bytes.append(3); string(v)
        case .ints(let v): bytes.append(4); int(v.count); for x in v { u64(UInt64(bitPattern: x)) }
        case .floats(let v): bytes.append(5); int(v.count); for x in v { u32(x.bitPattern) }
        case .strings(let v): bytes.append(6); strings(v)
        case .tensor(let t): bytes.append(7); tensor(t)
        }
    }
    /// A fusion: activation (tag, alpha, beta), then packing (0 = none, else the layout and the weights' shape).
    mutating func fusion(_ f: ConvFusion) {
        let (tag, alpha, beta): (UInt8, Float, Float) = switch f.activation {
        case .none: (0, 0, 0)
        case .relu: (1, 0, 0)
        case .leakyRelu(let a): (2, a, 0)
        case .clip(let lo, let hi): (3, lo, hi)
        case .sigmoid: (4, 0, 0)
        case .hardSigmoid(let a, let b): (5, a, b)
        case .hardSwish: (6, 0, 0)
        case .swish: (7, 0, 0)
        }
        bytes.append(tag)
        u32(alpha.bitPattern)
        u32(beta.bitPattern)
        if let packed = f.packedWeights {
            bytes.append(packed.layout.rawValue)
            ints(packed.shape)
        } else {
            bytes.append(0)
        }
    }
}

/// Reads what `ByteWriter` wrote; every read is bounds-checked and throws `InvalidModelError`.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var remaining: Int { bytes.count - offset }

    func truncated() -> InvalidModelError {
        InvalidModelError("reference engine: truncated or corrupt at byte \(offset)")
    }
    mutating func raw(_ n: Int) throws -> [UInt8] {
        guard n >= 0, n <= remaining else { throw truncated() }
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }
    mutating func u8() throws -> UInt8 {
        guard remaining >= 1 else { throw truncated() }
        defer { offset += 1 }
        return bytes[offset]
    }
    /// A little-endian unsigned integer of `T`'s width.
    mutating func fixed<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw truncated() }
        var v: T = 0
        for k in 0..<size { v |= T(bytes[offset + k]) << (8 * k) }
        offset += size
        return v
    }
    mutating func u32() throws -> UInt32 { try fixed() }
    mutating func u64() throws -> UInt64 { try fixed() }
    mutating func int() throws -> Int {
        let v = Int64(bitPattern: try u64())
        guard v >= Int64(Int32.min), v <= Int64(Int32.max) * 1024 else { throw truncated() }
        return Int(v)
    }
    /// A count of items each at least `minBytes` long, checked against what is left.
    mutating func count(minBytes: Int) throws -> Int {
        let n = try int()
        guard n >= 0, n <= remaining / max(1, minBytes) else { throw truncated() }
        return n
    }
    mutating func string() throws -> String {
        let n = try count(minBytes: 1)
        return String(decoding: try raw(n), as: UTF8.self)
    }
    mutating func strings() throws -> [String] {
        let n = try count(minBytes: 8)
        return try (0..<n).map { _ in try string() }
    }
    mutating func ints() throws -> [Int] {
        let n = try count(minBytes: 8)
        return try (0..<n).map { _ in try int() }
    }
    mutating func elementType() throws -> ElementType {
        guard let t = ElementType(rawValue: Int32(bitPattern: try u32())), t.isReferenceSupported else { throw truncated() }
        return t
    }
    mutating func descriptor() throws -> TensorDescriptor {
        let name = try string()
        let type = try elementType()
        let shape = try ints().map { $0 < 0 ? nil : $0 }
        let dimNames = try strings().map { $0.isEmpty ? nil : $0 }
        guard dimNames.count == shape.count else { throw truncated() }
        return TensorDescriptor(name: name, elementType: type, shape: shape, dimensionNames: dimNames)
    }
    mutating func tensor() throws -> RTensor {
        let type = try elementType()
        let shape = try ints()
        guard shape.allSatisfy({ $0 >= 0 }) else { throw truncated() }
        var expected = 1
        for d in shape {
            let (m, o) = expected.multipliedReportingOverflow(by: d)
            guard !o else { throw truncated() }
            expected = m
        }
        var t = RTensor(type: type, shape: shape)
        if type.isFloatKind {
            let n = try count(minBytes: 4)
            guard n == expected else { throw truncated() }
            let raw = try self.raw(n * 4)
            t.f = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        } else if type == .string {
            t.s = try strings()
            guard t.s.count == expected else { throw truncated() }
        } else {
            let n = try count(minBytes: 8)
            guard n == expected else { throw truncated() }
            let raw = try self.raw(n * 8)
            t.i = raw.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
        }
        return t
    }
    mutating func attribute() throws -> RAttribute {
        switch try u8() {
        case 1: return .int(Int64(bitPattern: try u64()))
        case 2: return .float(Float(bitPattern: try u32()))
        case 3: return .string(try string())
        case 4:
            let n = try count(minBytes: 8)
            return .ints(try (0..<n).map { _ in Int64(bitPattern: try u64()) })
        case 5:
            let n = try count(minBytes: 4)
            return .floats(try (0..<n).map { _ in Float(bitPattern: try u32()) })
        case 6: return .strings(try strings())
        case 7: return .tensor(try tensor())
        default: throw truncated()
        }
    }
    mutating func fusion() throws -> ConvFusion {
        let tag = try u8()
        let alpha = Float(bitPattern: try u32()), beta = Float(bitPattern: try u32())
        var f = ConvFusion()
        switch tag {
        case 0: f.activation = .none
        case 1: f.activation = .relu
        case 2: f.activation = .leakyRelu(alpha)
        case 3: f.activation = .clip(alpha, beta)
        case 4: f.activation = .sigmoid
        case 5: f.activation = .hardSigmoid(alpha, beta)
        case 6: f.activation = .hardSwish
        case 7: f.activation = .swish
        default: throw truncated()
        }
        let layout = try u8()
        if layout != 0 {
            guard let l = ConvFusion.Layout(rawValue: layout) else { throw truncated() }
            let shape = try ints()
            guard shape.count >= 3, shape.allSatisfy({ $0 > 0 }) else { throw truncated() }
            f.packedWeights = ConvFusion.PackedWeights(layout: l, shape: shape)
        }
        return f
    }
}
