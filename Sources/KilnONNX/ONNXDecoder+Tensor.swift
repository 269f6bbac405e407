import Foundation
import KilnCore

extension ONNXDecoder {
    /// Decodes a `TensorProto` into dense little-endian bytes, checking sizes before allocating.
    func tensor(_ range: Range<Int>) throws(ONNXError) -> ONNXTensor {
        var c = cursor(range)
        let what = "TensorProto"
        var dims: [Int64] = []
        var dataType: Int64 = 0
        var name = "", docString = ""
        var raw: Range<Int>?
        var floatData: [UInt32] = [], doubleData: [UInt64] = []
        var int32Data: [Int32] = [], int64Data: [Int64] = [], uint64Data: [UInt64] = []
        var stringData: [String] = []
        var external: [(String, String)] = []
        var location: Int64 = 0
        var unmodelled: [UInt8] = []
        while case let (field, wire, start)? = try c.nextField() {
            switch field {
            case 1: try c.appendVarints(wire, field: field, in: what, at: start, to: &dims) { Int64(bitPattern: $0) }
            case 2: dataType = try c.int64(wire, field: field, in: what, at: start)
            case 3:
                throw ONNXError("tensor uses segments (field 3), which Kiln does not support; re-save it whole", offset: start)
            case 4: try c.appendFixed(wire, field: field, in: what, at: start, to: &floatData)
            case 5: try c.appendVarints(wire, field: field, in: what, at: start, to: &int32Data) { Int32(truncatingIfNeeded: $0) }
            case 6: stringData.append(try c.string(wire, field: field, in: what, at: start))
            case 7: try c.appendVarints(wire, field: field, in: what, at: start, to: &int64Data) { Int64(bitPattern: $0) }
            case 8: name = try c.string(wire, field: field, in: what, at: start)
            case 9: raw = try c.payload(wire, field: field, in: what, at: start)
            case 10: try c.appendFixed(wire, field: field, in: what, at: start, to: &doubleData)
            case 11: try c.appendVarints(wire, field: field, in: what, at: start, to: &uint64Data) { $0 }
            case 12: docString = try c.string(wire, field: field, in: what, at: start)
            case 13: external.append(try entry(try c.payload(wire, field: field, in: what, at: start), "external_data"))
            case 14: location = try c.int64(wire, field: field, in: what, at: start)
            default:
                try c.skip(wire)
                keep(&unmodelled, start, c.position)
            }
        }
        let label = name.isEmpty ? "tensor" : "tensor '\(name)'"
        guard let elementType = ElementType(rawValue: Int32(truncatingIfNeeded: dataType)), Int64(Int32(truncatingIfNeeded: dataType)) == dataType else {
            throw ONNXError("\(label) has unknown or undefined data_type \(dataType)", offset: range.lowerBound)
        }
        var count = 1
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for d in dims {
            guard d >= 0, d <= Int64(Int.max) else {
                throw ONNXError("\(label) has negative dimension \(d) in dims \(dims)", offset: range.lowerBound)
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product <= Int(Int32.max) * 64 else {
                throw ONNXError("\(label) dims \(dims) describe more elements than any file can hold", offset: range.lowerBound)
            }
            count = product
            shape.append(Int(d))
        }
        func mismatch(_ field: String, _ have: Int, _ need: Int) -> ONNXError {
            ONNXError("\(label): \(field) has \(have) values but dims \(dims) of \(elementType) need \(need)", offset: range.lowerBound)
        }

        if elementType == .string {
            guard raw == nil, location == 0 else {
                throw ONNXError("\(label): string tensors must use string_data, not raw_data or external data", offset: range.lowerBound)
            }
            guard stringData.count == count else { throw mismatch("string_data", stringData.count, count) }
            return ONNXTensor(name: name, tensor: Tensor(shape: shape, strings: stringData), docString: docString, unmodelledFields: unmodelled)
        }
        guard let byteCount = elementType.byteCount(elements: count) else {
            throw ONNXError("\(label) of \(elementType) with dims \(dims) is too large", offset: range.lowerBound)
        }

        let data: [UInt8]
        if location == 1 {
            data = try externalData(external, byteCount: byteCount, label: label, offset: range.lowerBound)
        } else if let raw {
            guard raw.count == byteCount else {
                throw ONNXError("\(label): raw_data has \(raw.count) bytes but dims \(dims) of \(elementType) need \(byteCount)", offset: raw.lowerBound)
            }
            data = c.copy(raw)
        } else {
            data = try typedData(elementType: elementType, count: count, byteCount: byteCount, floatData: floatData,
                                 doubleData: doubleData, int32Data: int32Data, int64Data: int64Data,
                                 uint64Data: uint64Data, mismatch: mismatch)
        }
        return ONNXTensor(name: name, tensor: Tensor(elementType: elementType, shape: shape, bytes: data),
                          docString: docString, unmodelledFields: unmodelled)
    }

    /// Converts the typed `*_data` field that `elementType` uses into dense little-endian bytes.
    private func typedData(elementType: ElementType, count: Int, byteCount: Int, floatData: [UInt32], doubleData: [UInt64],
                           int32Data: [Int32], int64Data: [Int64], uint64Data: [UInt64],
                           mismatch: (String, Int, Int) -> ONNXError) throws(ONNXError) -> [UInt8] {
        switch elementType {
        case .float32, .complex64:
            let need = elementType == .float32 ? count : 2 * count
            guard floatData.count == need else { throw mismatch("float_data", floatData.count, need) }
            return littleEndianBytes(floatData)
        case .float64, .complex128:
            let need = elementType == .float64 ? count : 2 * count
            guard doubleData.count == need else { throw mismatch("double_data", doubleData.count, need) }
            return littleEndianBytes(doubleData)
        case .int64:
            guard int64Data.count == count else { throw mismatch("int64_data", int64Data.count, count) }
            return littleEndianBytes(int64Data)
        case .uint64:
            guard uint64Data.count == count else { throw mismatch("uint64_data", uint64Data.count, count) }
            return littleEndianBytes(uint64Data)
        case .uint32:
            guard uint64Data.count == count else { throw mismatch("uint64_data", uint64Data.count, count) }
            return littleEndianBytes(uint64Data.map { UInt32(truncatingIfNeeded: $0) })
        case .int32:
            guard int32Data.count == count else { throw mismatch("int32_data", int32Data.count, count) }
            return littleEndianBytes(int32Data)
        case .int16, .uint16, .float16, .bfloat16:
            guard int32Data.count == count else { throw mismatch("int32_data", int32Data.count, count) }
            return littleEndianBytes(int32Data.map { UInt16(truncatingIfNeeded: $0) })
        case .int8, .uint8, .bool, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0:
            guard int32Data.count == count else { throw mismatch("int32_data", int32Data.count, count) }
            return int32Data.map { UInt8(truncatingIfNeeded: $0) }
        case .int4, .uint4, .float4e2m1, .int2, .uint2:
            // Each int32_data value carries one packed byte (two 4-bit or four 2-bit elements).
            guard int32Data.count == byteCount else { throw mismatch("int32_data (packed bytes)", int32Data.count, byteCount) }
            return int32Data.map { UInt8(truncatingIfNeeded: $0) }
        case .string:
            return []
        }
    }
}

/// The little-endian bytes of `values` (one memcpy on little-endian hosts).
func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    #if _endian(big)
    return values.map { $0.littleEndian }.withUnsafeBytes { Array($0) }
    #else
    return values.withUnsafeBytes { Array($0) }
    #endif
}
