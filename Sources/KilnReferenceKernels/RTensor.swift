import KilnCore

/// The reference backend's working tensor: float types held as `Float`, integer and bool types as `Int64`.
///
/// float16, bfloat16 and float64 are computed in float32 (values are rounded to the declared type by
/// `Cast` and at the output boundary); every integer type keeps exact values, wrapped to its width.
package struct RTensor: Sendable {
    /// The ONNX element type this tensor represents.
    var type: ElementType
    /// Dimensions, outermost first.
    var shape: [Int]
    /// Elements of float types.
    package var f: [Float]
    /// Elements of integer and bool types (uint64 as its bit pattern).
    package var i: [Int64]
    /// Elements of string tensors.
    var s: [String]

    init(type: ElementType, shape: [Int], f: [Float] = [], i: [Int64] = [], s: [String] = []) {
        self.type = type
        self.shape = shape
        self.f = f
        self.i = i
        self.s = s
    }

    /// A float tensor.
    init(_ shape: [Int], floats: [Float], type: ElementType = .float32) {
        self.init(type: type, shape: shape, f: floats)
    }

    /// An int64 (or other integer type) tensor.
    init(_ shape: [Int], ints: [Int64], type: ElementType = .int64) {
        self.init(type: type, shape: shape, i: ints)
    }

    var count: Int { shape.reduce(1, *) }
    var rank: Int { shape.count }
    var isFloat: Bool { type.isFloatKind }
    var isString: Bool { type == .string }

    /// The elements as Double, whatever the storage (for index/shape inputs and mixed-type ops).
    var doubles: [Double] {
        if isFloat { return f.map(Double.init) }
        if type == .uint64 { return i.map { Double(UInt64(bitPattern: $0)) } }
        return i.map(Double.init)
    }

    /// The elements as Int64 (floats truncated), for shape-like inputs.
    var int64s: [Int64] {
        if isFloat { return f.map { $0.isFinite ? Int64($0) : 0 } }
        return i
    }

    /// The elements as Float (ints converted).
    package var floats: [Float] {
        if isFloat { return f }
        if type == .uint64 { return i.map { Float(UInt64(bitPattern: $0)) } }
        return i.map(Float.init)
    }

    /// The same data viewed with another shape (element count must match).
    func reshaped(_ newShape: [Int]) -> RTensor {
        var t = self
        t.shape = newShape
        return t
    }

    /// A tensor of `type` and `shape` filled with zeros, with storage of the right kind.
    static func zeros(_ type: ElementType, _ shape: [Int]) -> RTensor {
        let n = shape.reduce(1, *)
        if type.isFloatKind { return RTensor(type: type, shape: shape, f: [Float](repeating: 0, count: n)) }
        if type == .string { return RTensor(type: type, shape: shape, s: [String](repeating: "", count: n)) }
        return RTensor(type: type, shape: shape, i: [Int64](repeating: 0, count: n))
    }
}

extension ElementType {
    /// Types the reference backend stores as Float.
    package var isFloatKind: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz,
            .float8e8m0, .float4e2m1:
            true
        default: false
        }
    }

    /// The 8- and 4-bit float formats (held as Float, rounded through `MiniFloat`).
    var isMiniFloat: Bool {
        switch self {
        case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0, .float4e2m1: true
        default: false
        }
    }

    /// Integer types narrower than a byte (packed in tensors, low bits first).
    var isSubByteInteger: Bool {
        switch self {
        case .int4, .uint4, .int2, .uint2: true
        default: false
        }
    }

    /// Types the reference backend can hold (float, integer, bool, string).
    var isReferenceSupported: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64, .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64,
            .bool, .string, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0, .float4e2m1,
            .int4, .uint4, .int2, .uint2:
            true
        default: false
        }
    }

    /// Wraps an integer value to this type's width (exactly what a C cast does).
    @inline(__always) func wrap(_ v: Int64) -> Int64 {
        switch self {
        case .int8: Int64(Int8(truncatingIfNeeded: v))
        case .uint8: Int64(UInt8(truncatingIfNeeded: v))
        case .int16: Int64(Int16(truncatingIfNeeded: v))
        case .uint16: Int64(UInt16(truncatingIfNeeded: v))
        case .int32: Int64(Int32(truncatingIfNeeded: v))
        case .uint32: Int64(UInt32(truncatingIfNeeded: v))
        case .bool: v != 0 ? 1 : 0
        case .int4: ((v & 0xF) ^ 8) - 8
        case .uint4: v & 0xF
        case .int2: ((v & 3) ^ 2) - 2
        case .uint2: v & 3
        default: v
        }
    }

    /// Rounds a float to what this float type can represent.
    @inline(__always) func round(_ v: Float) -> Float {
        switch self {
        case .float16: Float(Float16(v))
        case .bfloat16: bfloat16Round(v)
        case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0, .float4e2m1:
            MiniFloat.round(v, self, saturate: true)
        default: v
        }
    }
}

/// Rounds a float to the nearest bfloat16 (ties to even), as ONNX does.
@inline(__always) func bfloat16Round(_ v: Float) -> Float {
    Float(bitPattern: UInt32(bfloat16Bits(v)) << 16)
}

/// The bfloat16 bit pattern nearest to `v` (ties to even; NaN stays NaN).
@inline(__always) func bfloat16Bits(_ v: Float) -> UInt16 {
    if v.isNaN { return 0x7FC0 }
    let bits = v.bitPattern
    let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: rounded >> 16)
}

extension RTensor {
    /// Converts an API tensor into a working tensor; refuses types the backend cannot hold.
    package init(_ t: Tensor, name: String) throws {
        let n = t.elementCount
        guard t.elementType.isReferenceSupported else {
            throw InvalidModelError("tensor \(name): element type \(t.elementType) is not supported by the reference backend")
        }
        if t.elementType == .string {
            guard t.strings.count == n else {
                throw InvalidModelError("tensor \(name): \(t.strings.count) strings for shape \(t.shape)")
            }
            self.init(type: .string, shape: t.shape, s: t.strings)
            return
        }
        if t.elementType.isMiniFloat || t.elementType.isSubByteInteger {
            guard let expected = t.elementType.byteCount(elements: n), t.bytes.count == expected else {
                throw InvalidModelError("tensor \(name): \(t.bytes.count) bytes for \(t.elementType) shape \(t.shape)")
            }
            let bits = t.elementType.bitWidth
            let perByte = 8 / bits
            let mask = UInt8((1 << bits) - 1)
            let codes: [UInt8] = bits == 8 ? t.bytes : (0..<n).map { k in (t.bytes[k / perByte] >> UInt8((k % perByte) * bits)) & mask }
            if t.elementType.isMiniFloat {
                self.init(type: t.elementType, shape: t.shape, f: codes.map { MiniFloat.decode($0, t.elementType) })
            } else {
                self.init(type: t.elementType, shape: t.shape, i: codes.map { t.elementType.wrap(Int64($0)) })
            }
            return
        }
        guard t.bytes.count == n * t.elementType.byteWidth else {
            throw InvalidModelError(
                "tensor \(name): \(t.bytes.count) bytes for \(t.elementType) shape \(t.shape) (expected \(n * t.elementType.byteWidth))")
        }
        switch t.elementType {
        case .float32, .float16, .bfloat16, .float64:
            self.init(type: t.elementType, shape: t.shape, f: t.floatValues())
        case .int8: self.init(type: .int8, shape: t.shape, i: t.values(as: Int8.self).map(Int64.init))
        case .uint8: self.init(type: .uint8, shape: t.shape, i: t.bytes.map(Int64.init))
        case .bool: self.init(type: .bool, shape: t.shape, i: t.bytes.map { $0 != 0 ? 1 : 0 })
        case .int16: self.init(type: .int16, shape: t.shape, i: t.values(as: Int16.self).map(Int64.init))
        case .uint16: self.init(type: .uint16, shape: t.shape, i: t.values(as: UInt16.self).map(Int64.init))
        case .int32: self.init(type: .int32, shape: t.shape, i: t.values(as: Int32.self).map(Int64.init))
        case .uint32: self.init(type: .uint32, shape: t.shape, i: t.values(as: UInt32.self).map(Int64.init))
        case .int64: self.init(type: .int64, shape: t.shape, i: t.values(as: Int64.self))
        case .uint64: self.init(type: .uint64, shape: t.shape, i: t.values(as: UInt64.self).map { Int64(bitPattern: $0) })
        default: throw InvalidModelError("tensor \(name): element type \(t.elementType) is not supported")
        }
    }

    /// Converts back to an API tensor of this tensor's declared type.
    func tensor() -> Tensor {
        func raw<T: BitwiseCopyable>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }
        switch type {
        case .float32: return Tensor(elementType: .float32, shape: shape, bytes: raw(f))
        case .float16: return Tensor(elementType: .float16, shape: shape, bytes: raw(f.map { Float16($0).bitPattern }))
        case .bfloat16: return Tensor(elementType: .bfloat16, shape: shape, bytes: raw(f.map(bfloat16Bits)))
        case .float64: return Tensor(elementType: .float64, shape: shape, bytes: raw(f.map(Double.init)))
        case .int8: return Tensor(elementType: type, shape: shape, bytes: raw(i.map { Int8(truncatingIfNeeded: $0) }))
        case .uint8: return Tensor(elementType: type, shape: shape, bytes: i.map { UInt8(truncatingIfNeeded: $0) })
        case .bool: return Tensor(elementType: type, shape: shape, bytes: i.map { $0 != 0 ? 1 : 0 })
        case .int16: return Tensor(elementType: type, shape: shape, bytes: raw(i.map { Int16(truncatingIfNeeded: $0) }))
        case .uint16: return Tensor(elementType: type, shape: shape, bytes: raw(i.map { UInt16(truncatingIfNeeded: $0) }))
        case .int32: return Tensor(elementType: type, shape: shape, bytes: raw(i.map { Int32(truncatingIfNeeded: $0) }))
        case .uint32: return Tensor(elementType: type, shape: shape, bytes: raw(i.map { UInt32(truncatingIfNeeded: $0) }))
        case .int64, .uint64: return Tensor(elementType: type, shape: shape, bytes: raw(i))
        case .string: return Tensor(shape: shape, strings: s)
        case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0, .float4e2m1, .int4, .uint4, .int2, .uint2:
            let codes: [UInt8] = type.isMiniFloat
                ? f.map { MiniFloat.encode($0, type, saturate: false) } : i.map { UInt8(truncatingIfNeeded: $0) }
            let bits = type.bitWidth
            if bits == 8 { return Tensor(elementType: type, shape: shape, bytes: codes) }
            let perByte = 8 / bits
            let mask = UInt8((1 << bits) - 1)
            var packed = [UInt8](repeating: 0, count: (codes.count + perByte - 1) / perByte)
            for (k, c) in codes.enumerated() { packed[k / perByte] |= (c & mask) << UInt8((k % perByte) * bits) }
            return Tensor(elementType: type, shape: shape, bytes: packed)
        default: return Tensor(elementType: type, shape: shape, bytes: [])
        }
    }
}
