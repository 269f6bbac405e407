/// Vectorised transcendental functions for the kernels' activations, in portable Swift SIMD
/// (the same code on AVX2, AVX-512 hosts and aarch64's NEON).
enum VectorMath {
    /// e^x on 8 lanes (Cephes' expf: x = n·ln 2 + r with |r| ≤ ln 2 / 2, a degree-6 polynomial
    /// for e^r, then 2^n through the exponent bits), within 2 ulp of `Foundation.exp` for x in
    /// [−87.3, 88.3]. Inputs beyond that range are clamped to it (e^x then saturates to about
    /// 1.2e−38 or 2.4e38 rather than 0 or +∞); NaN stays NaN.
    @inline(__always)
    static func exp(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let hi = SIMD8<Float>(repeating: 88.3762626647949), lo = SIMD8<Float>(repeating: -87.3365478515625)
        var x = v.replacing(with: hi, where: v .> hi)
        x.replace(with: lo, where: x .< lo)
        let n = (x * 1.44269504088896341 + 0.5).rounded(.down)
        // r = x − n·ln 2 in two steps (ln 2's high part is exact in few bits).
        var r = x - n * 0.693359375
        r = r + n * 2.12194440e-4
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let er = p * (r * r) + r + 1
        // n as an integer without a checked conversion: n + 1.5·2²³ holds n in its low mantissa bits.
        let integer = unsafeBitCast(n + 12582912, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let bits = (integer &+ 127) &<< 23
        let scale = unsafeBitCast(bits, to: SIMD8<Float>.self)
        let result = er * scale
        return result.replacing(with: v, where: v .!= v)
    }

    /// The logistic function 1 / (1 + e^−x) on 8 lanes (NaN stays NaN).
    @inline(__always)
    static func logistic(_ v: SIMD8<Float>) -> SIMD8<Float> {
        1 / (1 + exp(-v))
    }
}
