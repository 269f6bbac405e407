/// Appends protobuf wire-format fields to a byte buffer.
struct WireWriter {
    var bytes: [UInt8] = []

    @inline(__always)
    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func key(_ field: Int, _ wire: WireType) {
        varint(UInt64(field) << 3 | UInt64(wire.rawValue))
    }

    /// A varint field (negative values as 10-byte two's complement, as protobuf's int64/int32).
    mutating func int64(_ field: Int, _ value: Int64) {
        key(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    /// A varint field, omitted when zero.
    mutating func int64IfSet(_ field: Int, _ value: Int64) {
        if value != 0 { int64(field, value) }
    }

    mutating func fixed32(_ field: Int, _ value: UInt32) {
        key(field, .fixed32)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func bytes(_ field: Int, _ value: UnsafeRawBufferPointer) {
        key(field, .lengthDelimited)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        value.withUnsafeBytes { bytes(field, $0) }
    }

    mutating func string(_ field: Int, _ value: String) {
        var value = value
        value.withUTF8 { bytes(field, UnsafeRawBufferPointer($0)) }
    }

    /// A string field, omitted when empty.
    mutating func stringIfSet(_ field: Int, _ value: String) {
        if !value.isEmpty { string(field, value) }
    }

    /// A length-delimited sub-message whose body `build` writes in place.
    ///
    /// The body is written after a 5-byte gap; once its length is known the canonical varint goes
    /// in front and the body moves down over the unused bytes (one memmove, no temporary buffer).
    mutating func message(_ field: Int, _ build: (inout WireWriter) -> Void) {
        key(field, .lengthDelimited)
        let lengthAt = bytes.count
        bytes.append(contentsOf: [0, 0, 0, 0, 0] as [UInt8])
        build(&self)
        let bodyStart = lengthAt + 5
        let length = bytes.count - bodyStart
        precondition(length < 1 << 35, "message body over 32 GiB")
        var prefix: [UInt8] = []
        var v = UInt64(length)
        while v >= 0x80 {
            prefix.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        prefix.append(UInt8(v))
        let n = prefix.count
        bytes.withUnsafeMutableBytes { p in
            if length > 0 {
                (p.baseAddress! + lengthAt + n).copyMemory(from: p.baseAddress! + bodyStart, byteCount: length)
            }
            for i in 0..<n { p[lengthAt + i] = prefix[i] }
        }
        bytes.removeLast(5 - n)
    }

    /// Packed varints, omitted when empty.
    mutating func packedInt64s(_ field: Int, _ values: [Int64]) {
        guard !values.isEmpty else { return }
        var inner = WireWriter()
        inner.bytes.reserveCapacity(values.count)
        for v in values { inner.varint(UInt64(bitPattern: v)) }
        bytes(field, inner.bytes)
    }

    /// Packed fixed32 floats, omitted when empty.
    mutating func packedFloats(_ field: Int, _ values: [Float]) {
        guard !values.isEmpty else { return }
        key(field, .lengthDelimited)
        varint(UInt64(values.count * 4))
        for v in values {
            withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
    }

    /// Raw bytes appended verbatim (preserved unmodelled fields).
    mutating func raw(_ value: [UInt8]) {
        bytes.append(contentsOf: value)
    }
}
