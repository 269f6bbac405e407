#if arch(x86_64)
    /// The reference backend's GEMM tile for CPUs with AVX-512F: 6 rows × 32 columns in 12 zmm accumulators.
    ///
    /// This module alone is compiled for `skylake-avx512`; `KilnInference` calls it only after
    /// checking the CPU (`CPUFeatures.avx512`), so a build stays runnable on AVX2-only machines.
    /// It holds nothing but raw-pointer code with every SIMD operation inlined, so no generic
    /// specialisation compiled for AVX-512 can be shared with (and picked by) other modules.
    /// Each output element sums its products in the same order as the AVX2 tile, so both give
    /// bit-identical results.
    public enum GEMMTileAVX512 {
        /// Rows of a tile (the packed-A panel height, fixed by the engine format).
        public static let rows = 6
        /// Columns of a tile, the width of a packed B panel for this kernel.
        public static let columns = 32

        /// Activation codes the tile applies in registers (the piecewise-linear ones), with their
        /// parameters in `alpha`/`beta`. Plain integers: a Swift enum here would make this module
        /// emit value-witness helpers that the linker could share with other modules.
        public static let noActivation = 0
        /// max(x, 0).
        public static let relu = 1
        /// x < 0 ? αx : x.
        public static let leakyRelu = 2
        /// min(max(x, α), β).
        public static let clip = 3
        /// max(0, min(1, αx + β)).
        public static let hardSigmoid = 4
        /// x · max(0, min(1, x/6 + 1/2)).
        public static let hardSwish = 5

        /// Computes one 6×32 tile of C = Ap·Bp over `k` (plus C's own values when `accumulate`),
        /// then adds `bias[row]` when given and applies `activation`, and writes rows < `rows`
        /// and columns < `cols`.
        ///
        /// `ap` is a 6-row A panel (k × 6 interleaved), `bp` a 32-wide B panel with row stride
        /// `ldb` floats; `c` has leading dimension `ldc`. The activation mirrors the scalar
        /// definitions exactly, NaN included (the same selects as `max`/`min`).
        @inline(never)
        public static func tile(_ ap: UnsafePointer<Float>, _ bp: UnsafePointer<Float>, k: Int, ldb: Int,
                                _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int, accumulate: Bool,
                                bias: UnsafePointer<Float>?, activation: Int, alpha: Float, beta: Float) {
            var c00 = SIMD16<Float>(), c01 = SIMD16<Float>()
            var c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
            var c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
            var c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
            var c40 = SIMD16<Float>(), c41 = SIMD16<Float>()
            var c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
            let rb = UnsafeRawPointer(bp)
            var a = ap
            let rowBytes = ldb &* 4
            var kk = 0
            while kk < k {
                let b0 = rb.loadUnaligned(fromByteOffset: kk &* rowBytes, as: SIMD16<Float>.self)
                let b1 = rb.loadUnaligned(fromByteOffset: kk &* rowBytes &+ 64, as: SIMD16<Float>.self)
                var s = SIMD16<Float>(repeating: a[0])
                c00.addProduct(s, b0); c01.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[1])
                c10.addProduct(s, b0); c11.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[2])
                c20.addProduct(s, b0); c21.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[3])
                c30.addProduct(s, b0); c31.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[4])
                c40.addProduct(s, b0); c41.addProduct(s, b1)
                s = SIMD16<Float>(repeating: a[5])
                c50.addProduct(s, b0); c51.addProduct(s, b1)
                a += 6
                kk &+= 1
            }
            if rows == 6 && cols == 32 {
                if accumulate {
                    @inline(__always) func ld(_ r: Int, _ h: Int) -> SIMD16<Float> {
                        UnsafeRawPointer(c + r &* ldc).loadUnaligned(fromByteOffset: h &* 64, as: SIMD16<Float>.self)
                    }
                    c00 += ld(0, 0); c01 += ld(0, 1); c10 += ld(1, 0); c11 += ld(1, 1)
                    c20 += ld(2, 0); c21 += ld(2, 1); c30 += ld(3, 0); c31 += ld(3, 1)
                    c40 += ld(4, 0); c41 += ld(4, 1); c50 += ld(5, 0); c51 += ld(5, 1)
                }
                if let bias {
                    var v = SIMD16<Float>(repeating: bias[0]); c00 += v; c01 += v
                    v = SIMD16<Float>(repeating: bias[1]); c10 += v; c11 += v
                    v = SIMD16<Float>(repeating: bias[2]); c20 += v; c21 += v
                    v = SIMD16<Float>(repeating: bias[3]); c30 += v; c31 += v
                    v = SIMD16<Float>(repeating: bias[4]); c40 += v; c41 += v
                    v = SIMD16<Float>(repeating: bias[5]); c50 += v; c51 += v
                }
                switch activation {
                case relu: activate(&c00, &c01, &c10, &c11, &c20, &c21, &c30, &c31, &c40, &c41, &c50, &c51) { $0.replacing(with: 0, where: $0 .<= 0) }
                case leakyRelu:
                    let a = alpha
                    activate(&c00, &c01, &c10, &c11, &c20, &c21, &c30, &c31, &c40, &c41, &c50, &c51) { $0.replacing(with: $0 * a, where: $0 .< 0) }
                case clip:
                    let lo = alpha, hi = beta
                    activate(&c00, &c01, &c10, &c11, &c20, &c21, &c30, &c31, &c40, &c41, &c50, &c51) { v in
                        let t = v.replacing(with: lo, where: v .<= lo)
                        return t.replacing(with: hi, where: t .> hi)
                    }
                case hardSigmoid:
                    let a = alpha, b = beta
                    activate(&c00, &c01, &c10, &c11, &c20, &c21, &c30, &c31, &c40, &c41, &c50, &c51) { unitClamp(a * $0 + b) }
                case hardSwish:
                    activate(&c00, &c01, &c10, &c11, &c20, &c21, &c30, &c31, &c40, &c41, &c50, &c51) { $0 * unitClamp($0 * (1 / 6) + 0.5) }
                default: break
                }
                @inline(__always) func st(_ r: Int, _ v0: SIMD16<Float>, _ v1: SIMD16<Float>) {
                    let raw = UnsafeMutableRawPointer(c + r &* ldc)
                    raw.storeBytes(of: v0, as: SIMD16<Float>.self)
                    raw.storeBytes(of: v1, toByteOffset: 64, as: SIMD16<Float>.self)
                }
                st(0, c00, c01); st(1, c10, c11); st(2, c20, c21)
                st(3, c30, c31); st(4, c40, c41); st(5, c50, c51)
                return
            }
            // A partial tile goes through a stack copy, element by element in the same order as a
            // full tile: products, then C's value, then the bias.
            var tile = (c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51)
            withUnsafeMutableBytes(of: &tile) { raw in
                let flat = raw.baseAddress!.assumingMemoryBound(to: Float.self)
                for r in 0..<rows {
                    for j in 0..<cols {
                        var v = flat[r &* 32 &+ j]
                        if accumulate { v += c[r &* ldc &+ j] }
                        if let bias { v += bias[r] }
                        c[r &* ldc &+ j] = scalar(v, activation, alpha, beta)
                    }
                }
            }
        }

        /// Applies `f` to the twelve accumulators.
        @inline(__always)
        static func activate(_ a: inout SIMD16<Float>, _ b: inout SIMD16<Float>, _ c: inout SIMD16<Float>, _ d: inout SIMD16<Float>,
                             _ e: inout SIMD16<Float>, _ f: inout SIMD16<Float>, _ g: inout SIMD16<Float>, _ h: inout SIMD16<Float>,
                             _ i: inout SIMD16<Float>, _ j: inout SIMD16<Float>, _ k: inout SIMD16<Float>, _ l: inout SIMD16<Float>,
                             _ fn: (SIMD16<Float>) -> SIMD16<Float>) {
            a = fn(a); b = fn(b); c = fn(c); d = fn(d); e = fn(e); f = fn(f)
            g = fn(g); h = fn(h); i = fn(i); j = fn(j); k = fn(k); l = fn(l)
        }

        /// max(0, min(1, u)) as the scalar selects compute it: `u < 1 ? u : 1`, then `m >= 0 ? m : 0`.
        @inline(__always)
        static func unitClamp(_ u: SIMD16<Float>) -> SIMD16<Float> {
            let m = SIMD16<Float>(repeating: 1).replacing(with: u, where: u .< 1)
            return SIMD16<Float>(repeating: 0).replacing(with: m, where: m .>= 0)
        }

        /// The scalar definition of an activation code, as the reference backend's elementwise kernels compute it.
        @inline(__always)
        static func scalar(_ x: Float, _ activation: Int, _ alpha: Float, _ beta: Float) -> Float {
            switch activation {
            case relu: return max(x, 0)
            case leakyRelu: return x < 0 ? x * alpha : x
            case clip: return min(max(x, alpha), beta)
            case hardSigmoid: return max(0, min(1, alpha * x + beta))
            case hardSwish: return x * max(0, min(1, x * (1 / 6) + 0.5))
            default: return x
            }
        }
    }
#endif
