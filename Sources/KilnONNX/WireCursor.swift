/// The protobuf wire types ONNX files use (groups, 3 and 4, are rejected).
enum WireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

/// A bounds-checked cursor over protobuf wire-format bytes, borrowed from the caller's buffer.
///
/// Every read checks against `end` first, so nothing is ever allocated or read on the strength of
/// a declared length that the remaining bytes do not back. Offsets in errors are absolute.
struct WireCursor {
    /// The whole input (offsets are relative to its start).
    let bytes: UnsafeRawBufferPointer
    /// The next byte to read.
    var position: Int
    /// One past the last byte of the current message.
    let end: Int

    init(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    var isAtEnd: Bool { position >= end }

    /// Reads a base-128 varint (at most 10 bytes).
    @inline(__always)
    mutating func varint() throws(ONNXError) -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else {
                throw ONNXError("truncated varint", offset: start)
            }
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 {
                throw ONNXError("varint overflows 64 bits", offset: start)
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw ONNXError("varint longer than 10 bytes", offset: start) }
        }
    }

    /// Reads a field key; returns the field number and wire type.
    mutating func tag() throws(ONNXError) -> (field: Int, wire: WireType) {
        let start = position
        let key = try varint()
        let field = key >> 3
        guard field > 0, field <= 0x1FFF_FFFF else {
            throw ONNXError("invalid field number \(field)", offset: start)
        }
        guard let wire = WireType(rawValue: UInt8(key & 7)) else {
            throw ONNXError("unsupported wire type \(key & 7) for field \(field)", offset: start)
        }
        return (Int(field), wire)
    }

    /// The next field's number and wire type, with the offset its key starts at (for messages);
    /// nil at the end of the message.
    mutating func nextField() throws(ONNXError) -> (field: Int, wire: WireType, start: Int)? {
        guard !isAtEnd else { return nil }
        let start = position
        let (field, wire) = try tag()
        return (field, wire, start)
    }

    mutating func fixed32() throws(ONNXError) -> UInt32 {
        guard end - position >= 4 else { throw ONNXError("truncated fixed32", offset: position) }
        let value = bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)
        position += 4
        return UInt32(littleEndian: value)
    }

    mutating func fixed64() throws(ONNXError) -> UInt64 {
        guard end - position >= 8 else { throw ONNXError("truncated fixed64", offset: position) }
        let value = bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)
        position += 8
        return UInt64(littleEndian: value)
    }

    /// Reads a length prefix and returns the range of the payload, checked against the message end.
    mutating func lengthDelimited() throws(ONNXError) -> Range<Int> {
        let start = position
        let length = try varint()
        guard length <= UInt64(end - position) else {
            throw ONNXError("length \(length) exceeds the \(end - position) bytes left in the message", offset: start)
        }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    /// Skips a field's value of wire type `wire`.
    mutating func skip(_ wire: WireType) throws(ONNXError) {
        switch wire {
        case .varint: _ = try varint()
        case .fixed32: _ = try fixed32()
        case .fixed64: _ = try fixed64()
        case .lengthDelimited: _ = try lengthDelimited()
        }
    }

    /// Requires wire type `expected` for `field` of `message`.
    func expect(_ wire: WireType, _ expected: WireType, field: Int, in message: String, at offset: Int) throws(ONNXError) {
        guard wire == expected else {
            throw ONNXError("\(message) field \(field) has wire type \(wire.rawValue), expected \(expected.rawValue)", offset: offset)
        }
    }

    /// The bytes of `range` decoded as UTF-8 (invalid sequences replaced).
    func string(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// A copy of the bytes of `range`.
    func copy(_ range: Range<Int>) -> [UInt8] {
        Array(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    // MARK: scalar field values

    /// A varint field as Int64 (two's complement, as protobuf encodes negative int64/int32).
    mutating func int64(_ wire: WireType, field: Int, in message: String, at offset: Int) throws(ONNXError) -> Int64 {
        try expect(wire, .varint, field: field, in: message, at: offset)
        return Int64(bitPattern: try varint())
    }

    /// A length-delimited field as a string.
    mutating func string(_ wire: WireType, field: Int, in message: String, at offset: Int) throws(ONNXError) -> String {
        try expect(wire, .lengthDelimited, field: field, in: message, at: offset)
        return string(try lengthDelimited())
    }

    /// A length-delimited field's payload range.
    mutating func payload(_ wire: WireType, field: Int, in message: String, at offset: Int) throws(ONNXError) -> Range<Int> {
        try expect(wire, .lengthDelimited, field: field, in: message, at: offset)
        return try lengthDelimited()
    }

    // MARK: repeated scalars, packed or not

    /// Appends one or more varints (packed or a single unpacked value) to `values`.
    mutating func appendVarints<T>(_ wire: WireType, field: Int, in message: String, at offset: Int,
                                   to values: inout [T], _ convert: (UInt64) -> T) throws(ONNXError) {
        switch wire {
        case .varint:
            values.append(convert(try varint()))
        case .lengthDelimited:
            let range = try lengthDelimited()
            var inner = WireCursor(bytes, range)
            while !inner.isAtEnd { values.append(convert(try inner.varint())) }
        default:
            throw ONNXError("\(message) field \(field) has wire type \(wire.rawValue), expected a varint or packed varints", offset: offset)
        }
    }

    /// Appends one or more fixed-width values, packed or unpacked: fixed32 fields as `UInt32`,
    /// fixed64 fields as `UInt64` (the float and double bit patterns).
    mutating func appendFixed<Value: FixedWidthInteger & UnsignedInteger>(
        _ wire: WireType, field: Int, in message: String, at offset: Int, to values: inout [Value]
    ) throws(ONNXError) {
        let size = MemoryLayout<Value>.size
        switch wire {
        case .fixed32 where size == 4:
            values.append(Value(try fixed32()))
        case .fixed64 where size == 8:
            values.append(Value(try fixed64()))
        case .lengthDelimited:
            let range = try lengthDelimited()
            guard range.count % size == 0 else {
                throw ONNXError("\(message) field \(field): packed fixed\(size * 8) payload of \(range.count) bytes is not a multiple of \(size)", offset: offset)
            }
            let n = range.count / size
            values.reserveCapacity(values.count + n)
            for i in 0..<n {
                values.append(Value(littleEndian: bytes.loadUnaligned(fromByteOffset: range.lowerBound + size * i, as: Value.self)))
            }
        default:
            throw ONNXError("\(message) field \(field) has wire type \(wire.rawValue), expected fixed\(size * 8)", offset: offset)
        }
    }
}
