import Foundation

extension ReferenceKernels {
    /// Channels per block of the channel-blocked depthwise convolution: one `SIMD8` lane each.
    static let depthwiseBlock = 8

    /// `KILN_DW_BLOCKED=1` / `0` forces the channel-blocked depthwise kernel on or off for every
    /// layer (for measuring one against the other); unset, `prefersBlockedDepthwise` decides.
    static let forceBlocked: Bool? = ProcessInfo.processInfo.environment["KILN_DW_BLOCKED"].map { $0 == "1" }

    /// Whether `depthwiseBlocked` runs this depthwise convolution: windows of 16 taps or more
    /// (5×5, 7×7), whose arithmetic outweighs the two transposes; small planes (up to 16×16),
    /// where the per-plane path's padding, wide-grid columns and short rows cost the most; and
    /// strided windows, where splitting stride phases costs as much as the arithmetic (3×3
    /// stride 2, 64 channels, 56×56: 0.101 vs 0.127 ms; 32 channels, 112×112: 0.209 vs 0.224).
    /// Larger 3×3 planes at stride 1 are faster per plane (16 channels, 112×112: 0.195 vs 0.239;
    /// measured with `kiln-bench reference --model`, `KILN_DW_BLOCKED=0/1`).
    static func prefersBlockedDepthwise(plan: Conv2DPlan, h: Int, w: Int) -> Bool {
        if let force = forceBlocked { return force }
        return plan.kh * plan.kw >= 16 || h * w <= 16 * 16 || plan.sh > 1 || plan.sw > 1
    }

    /// A depthwise convolution computed on blocks of 8 channels, one channel per vector lane.
    ///
    /// Each block's zero-padded input is transposed into a tile of positions × 8 channels, so
    /// every tap of every output position is one aligned 8-float load at a fixed offset — for
    /// any stride or dilation, with no padding columns computed and no partial vectors. Eight
    /// output positions are summed at a time in registers (bias first, then the taps in kernel
    /// order, then the activation), and the block's results are transposed back to NCHW.
    static func depthwiseBlocked(_ x: UnsafePointer<Float>, n: Int, h: Int, w: Int, plan: Conv2DPlan, oh: Int, ow: Int,
                                 weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, activation: Activation,
                                 out: UnsafeMutablePointer<Float>, threads: Int) {
        let channels = plan.inC, lanes = depthwiseBlock
        let blocks = (channels + lanes - 1) / lanes
        let hp = (oh - 1) * plan.sh + (plan.kh - 1) * plan.dh + 1
        let wp = (ow - 1) * plan.sw + (plan.kw - 1) * plan.dw + 1
        let taps = plan.kh * plan.kw
        let xp = SendablePointer(UnsafeMutablePointer(mutating: x)), op = SendablePointer(out)
        let bp = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        // Rows and columns of the input that land inside the tile.
        let rows = max(0, min(h, hp - plan.padT)), cols = max(0, min(w, wp - plan.padL))
        // The weights as blocks × taps × 8 lanes (zero for lanes past the last channel).
        let kernels = AlignedFloats.allocate(blocks * taps * lanes)
        defer { kernels.deallocate() }
        kernels.initialize(repeating: 0, count: blocks * taps * lanes)
        for c in 0..<channels {
            let dst = kernels + (c / lanes * taps * lanes + c % lanes), src = weights + c * taps
            for t in 0..<taps { dst[t &* 8] = src[t] }
        }
        let kp = SendablePointer(kernels)
        parallelFor(n * blocks, threads: threads) { range in
            // Slack past the tile and the results for a last group of positions that runs past `ow`.
            let tileFloats = hp * wp * lanes + 8 * plan.sw * lanes
            let tile = AlignedFloats.allocate(tileFloats)
            let result = AlignedFloats.allocate((oh * ow + 8) * lanes)
            let offsets = UnsafeMutablePointer<Int>.allocate(capacity: taps)
            defer {
                tile.deallocate()
                result.deallocate()
                offsets.deallocate()
            }
            for ky in 0..<plan.kh {
                for kx in 0..<plan.kw { offsets[ky * plan.kw + kx] = (ky * plan.dh * wp + kx * plan.dw) * lanes * 4 }
            }
            // Zeros around the input (and in unused lanes): the copies below never write there.
            // With every block of the chunk whole, only the border and the slack: a large plane's
            // tile is hundreds of kilobytes, and at 2+ threads each chunk fills its own.
            if channels % lanes != 0 && range.contains(where: { $0 % blocks == blocks - 1 }) {
                tile.initialize(repeating: 0, count: tileFloats)
            } else {
                let rowFloats = wp * lanes
                let top = min(hp, plan.padT), bottom = min(hp, plan.padT + rows)
                let left = min(wp, plan.padL), right = min(wp, plan.padL + cols)
                tile.initialize(repeating: 0, count: top * rowFloats)
                (tile + bottom * rowFloats).initialize(repeating: 0, count: tileFloats - bottom * rowFloats)
                for y in top..<bottom {
                    (tile + y * rowFloats).initialize(repeating: 0, count: left * lanes)
                    (tile + y * rowFloats + right * lanes).initialize(repeating: 0, count: (wp - right) * lanes)
                }
            }
            for item in range {
                let image = item / blocks, block = item % blocks, c0 = block * lanes
                let valid = min(lanes, channels - c0)
                let plane0 = image * channels + c0
                var biasV = SIMD8<Float>()
                if let bp { for l in 0..<valid { biasV[l] = bp.p[c0 + l] } }
                // Input planes → tile[y][x][lane].
                let hw = h * w
                for iy in 0..<rows {
                    let src = xp.p + plane0 * hw + iy * w
                    let dst = UnsafeMutableRawPointer(tile + ((iy + plan.padT) * wp + plan.padL) * lanes)
                    if valid == lanes {
                        var ix = 0
                        while ix &+ 8 <= cols {
                            // Eight channels × eight positions, transposed in registers.
                            let raw = UnsafeRawPointer(src + ix)
                            @inline(__always) func ld(_ l: Int) -> SIMD8<Float> {
                                raw.loadUnaligned(fromByteOffset: l &* hw &* 4, as: SIMD8<Float>.self)
                            }
                            let t = transpose8((ld(0), ld(1), ld(2), ld(3), ld(4), ld(5), ld(6), ld(7)))
                            let d = dst + ix &* 32
                            d.storeBytes(of: t.0, toByteOffset: 0, as: SIMD8<Float>.self)
                            d.storeBytes(of: t.1, toByteOffset: 32, as: SIMD8<Float>.self)
                            d.storeBytes(of: t.2, toByteOffset: 64, as: SIMD8<Float>.self)
                            d.storeBytes(of: t.3, toByteOffset: 96, as: SIMD8<Float>.self)
                            d.storeBytes(of: t.4, toByteOffset: 128, as: SIMD8<Float>.self)
                            d.storeBytes(of: t.5, toByteOffset: 160, as: SIMD8<Float>.self)
                            d.storeBytes(of: t.6, toByteOffset: 192, as: SIMD8<Float>.self)
                            d.storeBytes(of: t.7, toByteOffset: 224, as: SIMD8<Float>.self)
                            ix &+= 8
                        }
                        while ix < cols {
                            let s = src + ix
                            let v = SIMD8(s[0], s[hw], s[2 &* hw], s[3 &* hw], s[4 &* hw], s[5 &* hw], s[6 &* hw], s[7 &* hw])
                            dst.storeBytes(of: v, toByteOffset: ix &* 32, as: SIMD8<Float>.self)
                            ix &+= 1
                        }
                    } else {
                        let d = dst.assumingMemoryBound(to: Float.self)
                        for l in 0..<valid {
                            for ix in 0..<cols { d[ix &* 8 &+ l] = src[l &* hw &+ ix] }
                        }
                    }
                }
                let tileRaw = UnsafeRawPointer(tile)
                let w8 = UnsafeRawPointer(kp.p + block * taps * lanes).assumingMemoryBound(to: SIMD8<Float>.self)
                for oy in 0..<oh {
                    let base = tileRaw + oy * plan.sh * wp * lanes * 4
                    depthwiseBlockedRow(base, offsets, taps: taps, w8, biasV, ow: ow, step: plan.sw * lanes * 4,
                                        result + oy * ow * lanes, activation)
                }
                // Position-major results back to each channel's (contiguous) output plane: eight
                // positions × eight channels transposed in registers, then the rest one by one.
                let ohw = oh * ow
                var q0 = 0
                if valid == lanes {
                    let r = UnsafeRawPointer(result)
                    while q0 &+ 8 <= ohw {
                        @inline(__always) func ld(_ i: Int) -> SIMD8<Float> {
                            r.load(fromByteOffset: (q0 &+ i) &* 32, as: SIMD8<Float>.self)
                        }
                        let t = transpose8((ld(0), ld(1), ld(2), ld(3), ld(4), ld(5), ld(6), ld(7)))
                        @inline(__always) func st(_ l: Int, _ v: SIMD8<Float>) {
                            UnsafeMutableRawPointer(op.p + (plane0 + l) * ohw + q0).storeBytes(of: v, as: SIMD8<Float>.self)
                        }
                        st(0, t.0); st(1, t.1); st(2, t.2); st(3, t.3); st(4, t.4); st(5, t.5); st(6, t.6); st(7, t.7)
                        q0 &+= 8
                    }
                }
                for l in 0..<valid {
                    let d = UnsafeMutableRawPointer(op.p + (plane0 + l) * ohw)
                    let r = UnsafePointer(result + l)
                    var q = q0
                    while q &+ 8 <= ohw {
                        let s = r + q &* 8
                        let v = SIMD8(s[0], s[8], s[16], s[24], s[32], s[40], s[48], s[56])
                        d.storeBytes(of: v, toByteOffset: q &* 4, as: SIMD8<Float>.self)
                        q &+= 8
                    }
                    let dst = d.assumingMemoryBound(to: Float.self)
                    while q < ohw {
                        dst[q] = r[q &* 8]
                        q &+= 1
                    }
                }
            }
        }
    }

    /// The transpose of an 8×8 block held as eight rows: three rounds of splitting each pair of
    /// rows into their even and odd elements (each round rotates an element's 6-bit index
    /// (row, column) right by one bit; three rounds make it (column, row)).
    @inline(__always)
    static func transpose8(_ v: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>))
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        @inline(__always) func round(_ v: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>))
            -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
            let p0 = SIMD16(lowHalf: v.0, highHalf: v.1), p1 = SIMD16(lowHalf: v.2, highHalf: v.3)
            let p2 = SIMD16(lowHalf: v.4, highHalf: v.5), p3 = SIMD16(lowHalf: v.6, highHalf: v.7)
            return (p0.evenHalf, p1.evenHalf, p2.evenHalf, p3.evenHalf, p0.oddHalf, p1.oddHalf, p2.oddHalf, p3.oddHalf)
        }
        return round(round(round(v)))
    }

    /// One output row of `depthwiseBlocked` with the activation applied on the registers.
    @inline(__always)
    static func depthwiseBlockedRow(_ base: UnsafeRawPointer, _ offs: UnsafePointer<Int>, taps: Int, _ w: UnsafePointer<SIMD8<Float>>,
                                    _ bias: SIMD8<Float>, ow: Int, step: Int, _ out: UnsafeMutablePointer<Float>, _ activation: Activation) {
        switch activation {
        case .none, .sigmoid, .swish: depthwiseBlockedRow(base, offs, taps, w, bias, ow, step, out, VectorActivations.Identity())
        case .relu: depthwiseBlockedRow(base, offs, taps, w, bias, ow, step, out, VectorActivations.Relu())
        case .leakyRelu(let a): depthwiseBlockedRow(base, offs, taps, w, bias, ow, step, out, VectorActivations.LeakyRelu(alpha: a))
        case .clip(let lo, let hi): depthwiseBlockedRow(base, offs, taps, w, bias, ow, step, out, VectorActivations.Clip(lo: lo, hi: hi))
        case .hardSigmoid(let a, let b):
            depthwiseBlockedRow(base, offs, taps, w, bias, ow, step, out, VectorActivations.HardSigmoid(alpha: a, beta: b))
        case .hardSwish: depthwiseBlockedRow(base, offs, taps, w, bias, ow, step, out, VectorActivations.HardSwish())
        }
        switch activation {
        case .sigmoid, .swish: activation.apply(out, ow * depthwiseBlock)
        default: break
        }
    }

    /// `ow` output positions × 8 channels: out[q] = act(bias + Σ_t w[t] · in[q·step + offs[t]])
    /// (byte offsets from `base`), eight positions at a time in eight accumulators.
    ///
    /// The last group may run up to 7 positions past `ow`: they read the tile's slack (or the next
    /// row) and write into the next row's results (computed after) or the results' slack.
    @inline(never)
    static func depthwiseBlockedRow<A: VectorActivation>(_ base: UnsafeRawPointer, _ offs: UnsafePointer<Int>, _ taps: Int,
                                                         _ w: UnsafePointer<SIMD8<Float>>, _ bias: SIMD8<Float>, _ ow: Int,
                                                         _ step: Int, _ out: UnsafeMutablePointer<Float>, _ act: A) {
        let o = UnsafeMutableRawPointer(out)
        var q = 0
        while q < ow {
            let p = base + q &* step
            let d = q &* 32
            var a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias
            for t in 0..<taps {
                let wt = w[t]
                let r = p + offs[t]
                a0.addProduct(wt, r.load(as: SIMD8<Float>.self))
                a1.addProduct(wt, r.load(fromByteOffset: step, as: SIMD8<Float>.self))
                a2.addProduct(wt, r.load(fromByteOffset: 2 &* step, as: SIMD8<Float>.self))
                a3.addProduct(wt, r.load(fromByteOffset: 3 &* step, as: SIMD8<Float>.self))
                a4.addProduct(wt, r.load(fromByteOffset: 4 &* step, as: SIMD8<Float>.self))
                a5.addProduct(wt, r.load(fromByteOffset: 5 &* step, as: SIMD8<Float>.self))
                a6.addProduct(wt, r.load(fromByteOffset: 6 &* step, as: SIMD8<Float>.self))
                a7.addProduct(wt, r.load(fromByteOffset: 7 &* step, as: SIMD8<Float>.self))
            }
            o.storeBytes(of: act(a0), toByteOffset: d, as: SIMD8<Float>.self)
            o.storeBytes(of: act(a1), toByteOffset: d &+ 32, as: SIMD8<Float>.self)
            o.storeBytes(of: act(a2), toByteOffset: d &+ 64, as: SIMD8<Float>.self)
            o.storeBytes(of: act(a3), toByteOffset: d &+ 96, as: SIMD8<Float>.self)
            o.storeBytes(of: act(a4), toByteOffset: d &+ 128, as: SIMD8<Float>.self)
            o.storeBytes(of: act(a5), toByteOffset: d &+ 160, as: SIMD8<Float>.self)
            o.storeBytes(of: act(a6), toByteOffset: d &+ 192, as: SIMD8<Float>.self)
            o.storeBytes(of: act(a7), toByteOffset: d &+ 224, as: SIMD8<Float>.self)
            q &+= 8
        }
    }
}
