/// The element type of a tensor, numbered as ONNX's `TensorProto.DataType`.
public enum ElementType: Int32, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case float32 = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case string = 8
    case bool = 9
    case float16 = 10
    case float64 = 11
    case uint32 = 12
    case uint64 = 13
    case complex64 = 14
    case complex128 = 15
    case bfloat16 = 16
    case float8e4m3fn = 17
    case float8e4m3fnuz = 18
    case float8e5m2 = 19
    case float8e5m2fnuz = 20
    case uint4 = 21
    case int4 = 22
    case float4e2m1 = 23
    case float8e8m0 = 24
    case uint2 = 25
    case int2 = 26

    /// Bytes per element; 0 for `string` and for sub-byte types (int4/uint4/float4e2m1 pack two per
    /// byte, int2/uint2 four per byte; see `bitWidth`).
    public var byteWidth: Int {
        switch self {
        case .float32, .int32, .uint32: 4
        case .uint8, .int8, .bool, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0: 1
        case .uint16, .int16, .float16, .bfloat16: 2
        case .int64, .uint64, .float64, .complex64: 8
        case .complex128: 16
        case .string, .uint4, .int4, .float4e2m1, .uint2, .int2: 0
        }
    }

    /// Bits per element (4 for int4/uint4/float4e2m1, 2 for int2/uint2); 0 for `string`.
    public var bitWidth: Int {
        switch self {
        case .uint4, .int4, .float4e2m1: 4
        case .uint2, .int2: 2
        default: byteWidth * 8
        }
    }

    /// Bytes that `count` dense elements occupy, sub-byte types packed; nil for `string` or on overflow.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, bitWidth > 0 else { return nil }
        if bitWidth >= 8 {
            let (bytes, overflow) = count.multipliedReportingOverflow(by: byteWidth)
            return overflow ? nil : bytes
        }
        let perByte = 8 / bitWidth
        return count / perByte + (count % perByte == 0 ? 0 : 1)
    }

    /// The lower-case name used in JSON and on the command line (`float32`, `float16`, …).
    public var description: String {
        switch self {
        case .float32: "float32"
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .string: "string"
        case .bool: "bool"
        case .float16: "float16"
        case .float64: "float64"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .complex64: "complex64"
        case .complex128: "complex128"
        case .bfloat16: "bfloat16"
        case .float8e4m3fn: "float8e4m3fn"
        case .float8e4m3fnuz: "float8e4m3fnuz"
        case .float8e5m2: "float8e5m2"
        case .float8e5m2fnuz: "float8e5m2fnuz"
        case .uint4: "uint4"
        case .int4: "int4"
        case .float4e2m1: "float4e2m1"
        case .float8e8m0: "float8e8m0"
        case .uint2: "uint2"
        case .int2: "int2"
        }
    }
}
