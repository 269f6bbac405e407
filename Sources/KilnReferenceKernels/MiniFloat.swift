import KilnCore

/// ONNX's 8- and 4-bit float formats (float8 E4M3FN/E4M3FNUZ/E5M2/E5M2FNUZ, E8M0, float4 E2M1):
/// decoding by formula and encoding by round-to-nearest-even over the format's value table.
enum MiniFloat {
    /// Exponent bits, mantissa bits, bias, whether it has infinities, and the NaN rule.
    struct Format: Sendable {
        let e: Int, m: Int, bias: Int
        let hasInf: Bool
        /// NaN is the single code 0x80 (the "uz" formats), else all-ones exponent+mantissa.
        let unsignedZero: Bool
        let bits: Int
    }

    static func format(_ t: ElementType) -> Format? {
        switch t {
        case .float8e4m3fn: Format(e: 4, m: 3, bias: 7, hasInf: false, unsignedZero: false, bits: 8)
        case .float8e4m3fnuz: Format(e: 4, m: 3, bias: 8, hasInf: false, unsignedZero: true, bits: 8)
        case .float8e5m2: Format(e: 5, m: 2, bias: 15, hasInf: true, unsignedZero: false, bits: 8)
        case .float8e5m2fnuz: Format(e: 5, m: 2, bias: 16, hasInf: false, unsignedZero: true, bits: 8)
        case .float4e2m1: Format(e: 2, m: 1, bias: 1, hasInf: false, unsignedZero: false, bits: 4)
        default: nil
        }
    }

    /// Decodes one code of `t` (float8e8m0 included).
    static func decode(_ code: UInt8, _ t: ElementType) -> Float {
        if t == .float8e8m0 { return code == 0xFF ? .nan : Float(sign: .plus, exponent: Int(code) - 127, significand: 1) }
        guard let f = format(t) else { return .nan }
        let signBit = UInt8(1) << (f.bits - 1)
        if f.unsignedZero && code == 0x80 { return .nan }
        let negative = code & signBit != 0
        let e = Int(code >> f.m) & ((1 << f.e) - 1)
        let m = Int(code) & ((1 << f.m) - 1)
        let eMax = (1 << f.e) - 1
        if f.bits == 8 && !f.unsignedZero {
            if f.hasInf && e == eMax { return m == 0 ? (negative ? -.infinity : .infinity) : .nan }
            if !f.hasInf && e == eMax && m == (1 << f.m) - 1 { return .nan }
        }
        let value: Float = e == 0
            ? Float(m) / Float(1 << f.m) * Float(sign: .plus, exponent: 1 - f.bias, significand: 1)
            : (1 + Float(m) / Float(1 << f.m)) * Float(sign: .plus, exponent: e - f.bias, significand: 1)
        return negative ? -value : value
    }

    /// The non-negative finite values of a format with their codes, ascending.
    static func table(_ t: ElementType) -> [(Float, UInt8)] {
        guard let f = format(t) else { return [] }
        let half = 1 << (f.bits - 1)
        return (0..<half).map { (decode(UInt8($0), t), UInt8($0)) }.filter { $0.0.isFinite }.sorted { $0.0 < $1.0 }
    }

    static let tables: [ElementType: [(Float, UInt8)]] = {
        var d: [ElementType: [(Float, UInt8)]] = [:]
        for t in [ElementType.float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float4e2m1] { d[t] = table(t) }
        return d
    }()

    /// Encodes `x` as `t`, rounding to nearest even; `saturate` clamps overflow to ±max.
    static func encode(_ x: Float, _ t: ElementType, saturate: Bool, roundMode: String = "up") -> UInt8 {
        if t == .float8e8m0 { return encodeE8M0(x, saturate: saturate, roundMode: roundMode) }
        guard let f = format(t), let table = tables[t] else { return 0 }
        let signBit = UInt8(1) << (f.bits - 1)
        let nanCode: UInt8 = f.unsignedZero ? 0x80 : (f.bits == 4 ? 0 : (f.hasInf ? 0x7E : 0x7F))
        if x.isNaN { return f.bits == 4 ? 0 : nanCode }
        let negative = x < 0 || (x == 0 && x.sign == .minus)
        let a = abs(x)
        let maxValue = table.last!.0
        var code: UInt8
        if a > maxValue {
            if saturate || f.bits == 4 {
                code = table.last!.1
            } else {
                let ulp = maxValue - table[table.count - 2].0
                let overflow = a.isInfinite || a > maxValue + ulp / 2 || (a == maxValue + ulp / 2 && table.last!.1 & 1 == 1)
                if !overflow { code = table.last!.1 } else if f.hasInf { code = UInt8((1 << f.e) - 1) << f.m } else { return nanCode }
            }
        } else {
            // Binary search for the first value ≥ a.
            var lo = 0, hi = table.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if table[mid].0 < a { lo = mid + 1 } else { hi = mid }
            }
            if table[lo].0 == a || lo == 0 {
                code = table[lo].1
            } else {
                let below = table[lo - 1], above = table[lo]
                let dBelow = a - below.0, dAbove = above.0 - a
                if dBelow < dAbove { code = below.1 } else if dAbove < dBelow { code = above.1 } else {
                    code = below.1 & 1 == 0 ? below.1 : above.1
                }
            }
        }
        if negative && !(f.unsignedZero && code == 0) { code |= signBit }
        return code
    }

    /// ONNX's float → E8M0 conversion (exponent only, round up/down/nearest, saturating at 0xFE).
    static func encodeE8M0(_ x: Float, saturate: Bool, roundMode: String) -> UInt8 {
        let bits = x.bitPattern
        var exponent = (bits >> 23) & 0xFF
        if exponent == 0xFF { return 0xFF }
        switch roundMode {
        case "nearest":
            let g = bits & 0x40_0000 != 0, r = bits & 0x20_0000 != 0, s = bits & 0x1F_FFFF != 0, lsb = exponent > 0
            var up = g && (r || s || lsb)
            if saturate && exponent == 0xFE && up { up = false }
            if up { exponent += 1 }
        case "down": break
        default:
            var up = bits & 0x7F_FFFF != 0
            if saturate && exponent == 0xFE && up { up = false }
            if up { exponent += 1 }
        }
        return UInt8(truncatingIfNeeded: exponent)
    }

    /// Rounds `x` to the value `t` would store (what a Cast to `t` and back yields).
    static func round(_ x: Float, _ t: ElementType, saturate: Bool, roundMode: String = "up") -> Float {
        decode(encode(x, t, saturate: saturate, roundMode: roundMode), t)
    }
}
