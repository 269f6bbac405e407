import KilnCore

extension ONNXDecoder {
    /// Decodes a `ValueInfoProto`; types a `TensorDescriptor` cannot express exactly are kept raw.
    func valueInfo(_ range: Range<Int>) throws(ONNXError) -> ONNXValueInfo {
        var c = cursor(range)
        var info = ONNXValueInfo(name: "", descriptor: nil)
        var typeRange: Range<Int>?
        while case let (field, wire, start)? = try c.nextField() {
            switch field {
            case 1: info.name = try c.string(wire, field: field, in: "ValueInfoProto", at: start)
            case 2: typeRange = try c.payload(wire, field: field, in: "ValueInfoProto", at: start)
            case 3: info.docString = try c.string(wire, field: field, in: "ValueInfoProto", at: start)
            default:
                try c.skip(wire)
                keep(&info.unmodelledFields, start, c.position)
            }
        }
        if let typeRange {
            let (descriptor, exact, invalid) = try tensorType(typeRange, name: info.name)
            info.descriptor = descriptor
            info.invalidDimensions = invalid
            if !exact { info.typeProto = c.copy(typeRange) }
        }
        return info
    }

    /// Decodes a `TypeProto`: the descriptor if it is a tensor of known rank, and whether
    /// re-encoding that descriptor reproduces the type exactly, and the dimension values it could not
    /// hold (negative other than -1, or beyond 2^41; they read as dynamic in the descriptor, as -1 does).
    private func tensorType(_ range: Range<Int>, name: String) throws(ONNXError) -> (TensorDescriptor?, Bool, [Int64]) {
        var c = cursor(range)
        var tensorRange: Range<Int>?
        var exact = true
        while case let (field, wire, start)? = try c.nextField() {
            if field == 1 {
                tensorRange = try c.payload(wire, field: field, in: "TypeProto", at: start)
            } else {
                try c.skip(wire)
                exact = false
            }
        }
        guard let tensorRange else { return (nil, false, []) }
        var t = cursor(tensorRange)
        var elemType: Int64 = 0
        var shapeRange: Range<Int>?
        while case let (field, wire, start)? = try t.nextField() {
            switch field {
            case 1: elemType = try t.int64(wire, field: field, in: "TypeProto.Tensor", at: start)
            case 2: shapeRange = try t.payload(wire, field: field, in: "TypeProto.Tensor", at: start)
            default:
                try t.skip(wire)
                exact = false
            }
        }
        guard let shapeRange,
              let elementType = ElementType(rawValue: Int32(truncatingIfNeeded: elemType)),
              Int64(elementType.rawValue) == elemType
        else { return (nil, false, []) }
        var s = cursor(shapeRange)
        var shape: [Int?] = [], names: [String?] = []
        var invalid: [Int64] = []
        while case let (field, wire, start)? = try s.nextField() {
            guard field == 1 else {
                try s.skip(wire)
                exact = false
                continue
            }
            var d = cursor(try s.payload(wire, field: field, in: "TensorShapeProto", at: start))
            var value: Int?, param: String?
            while case let (dfield, dwire, dstart)? = try d.nextField() {
                switch dfield {
                case 1:
                    let v = try d.int64(dwire, field: dfield, in: "TensorShapeProto.Dimension", at: dstart)
                    if v >= 0, v <= Int64(Int32.max) * 1024 {
                        value = Int(v); param = nil
                    } else {
                        // -1 is exporters' "unknown" (paddle2onnx, old PyTorch; onnxruntime reads it
                        // as dynamic): a dynamic axis. Other values no tensor can have.
                        value = nil; exact = false
                        if v != -1 { invalid.append(v) }
                    }
                case 2:
                    param = try d.string(dwire, field: dfield, in: "TensorShapeProto.Dimension", at: dstart)
                    value = nil
                    if param == "" { param = nil; exact = false }
                default:
                    try d.skip(dwire)
                    exact = false
                }
            }
            shape.append(value)
            names.append(param)
        }
        return (TensorDescriptor(name: name, elementType: elementType, shape: shape, dimensionNames: names), exact, invalid)
    }
}
