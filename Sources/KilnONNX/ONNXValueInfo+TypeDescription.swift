import KilnCore

extension ONNXValueInfo {
    /// The value's type in words: `float32`, `sequence<float32>`, `map<int64, float32>`,
    /// `optional<sequence<int64>>`, `sparse float32`, or `unknown` when the file gives none.
    public var typeDescription: String {
        if let descriptor { return descriptor.elementType.description }
        guard let typeProto else { return "unknown" }
        let described: String? = typeProto.withUnsafeBytes { raw in
            try? Self.describeType(WireCursor(raw, 0..<raw.count), depth: 0)
        }
        return described ?? "unknown"
    }

    private static func elementName(_ code: Int64) -> String {
        ElementType(rawValue: Int32(truncatingIfNeeded: code)).map(\.description) ?? "type\(code)"
    }

    /// Describes one `TypeProto` (nested types are bounded to 16 levels).
    private static func describeType(_ cursor: WireCursor, depth: Int) throws(ONNXError) -> String {
        guard depth < 16 else { return "…" }
        var c = cursor
        var result = "unknown"
        while case let (field, wire, start)? = try c.nextField() {
            switch field {
            case 1, 8:  // tensor_type, sparse_tensor_type: elem_type = 1, shape = 2
                var t = WireCursor(c.bytes, try c.payload(wire, field: field, in: "TypeProto", at: start))
                var elem: Int64 = 0
                var hasShape = false
                while case let (f, w, s)? = try t.nextField() {
                    if f == 1 { elem = try t.int64(w, field: f, in: "TypeProto", at: s) } else {
                        if f == 2 { hasShape = true }
                        try t.skip(w)
                    }
                }
                result = (field == 8 ? "sparse " : "") + elementName(elem) + (hasShape || field == 8 || depth > 0 ? "" : " (unknown rank)")
            case 4, 9:  // sequence_type, optional_type: elem_type = 1
                var t = WireCursor(c.bytes, try c.payload(wire, field: field, in: "TypeProto", at: start))
                var inner = "unknown"
                while case let (f, w, s)? = try t.nextField() {
                    if f == 1 {
                        inner = try describeType(WireCursor(t.bytes, try t.payload(w, field: f, in: "TypeProto", at: s)), depth: depth + 1)
                    } else { try t.skip(w) }
                }
                result = (field == 4 ? "sequence" : "optional") + "<\(inner)>"
            case 5:  // map_type: key_type = 1, value_type = 2
                var t = WireCursor(c.bytes, try c.payload(wire, field: field, in: "TypeProto", at: start))
                var key = "unknown", value = "unknown"
                while case let (f, w, s)? = try t.nextField() {
                    if f == 1 { key = elementName(try t.int64(w, field: f, in: "TypeProto", at: s)) }
                    else if f == 2 { value = try describeType(WireCursor(t.bytes, try t.payload(w, field: f, in: "TypeProto", at: s)), depth: depth + 1) }
                    else { try t.skip(w) }
                }
                result = "map<\(key), \(value)>"
            default:
                try c.skip(wire)
            }
        }
        return result
    }
}
