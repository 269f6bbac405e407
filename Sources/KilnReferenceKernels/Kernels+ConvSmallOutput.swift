#if KILN_X86_KERNELS
    import KilnKernelsAVX512
#endif

extension Conv2DPlan {
    /// Channels per panel of the output-channel-major weight layout (`packChannelPanels`).
    static let channelPanel = 32

    /// Whether a dense convolution with `positions` output positions per image runs
    /// `convSmallOutput` (weights packed by `packChannelPanels` at build time): 5 to 64 positions
    /// (7×7 and smaller maps) and at least 32 output channels.
    ///
    /// On such maps a tile 32 positions wide wastes a large part of its work — 49 positions fill
    /// two 32-wide panels, and the "wide" grid of a 3×3 convolution adds two columns per row —
    /// while 6 positions × 32 channels tiles waste at most 5 positions and no channels.
    func prefersSmallOutput(positions: Int) -> Bool {
        group == 1 && !depthwise && outC >= Self.channelPanel && positions > 4 && positions <= 64
    }

    /// OIHW weights as K × 32 panels of output channels (channel-major for `convSmallOutput`),
    /// zero past the last channel.
    func packChannelPanels(_ w: [Float]) -> [Float] {
        let k = kPerGroup, width = Self.channelPanel
        let panels = (outC + width - 1) / width
        var out = [Float](repeating: 0, count: panels * k * width)
        for m in 0..<outC {
            let p = m / width, j = m % width
            for kk in 0..<k { out[(p * k + kk) * width + j] = w[m * k + kk] }
        }
        return out
    }
}

extension ReferenceKernels {
    /// A dense convolution of one image with few output positions, as C^T = B^T · W^T.
    ///
    /// Tiles are 6 (or 7) output positions (broadcast from the input, gathered once per call) × 32 output
    /// channels (vector loads straight from the build-time `packChannelPanels` weights, no
    /// packing per call). The result, position-major in a scratch buffer, is transposed into the
    /// NCHW output with bias, the residual (`accumulate`: `out` holds it) and the activation.
    /// Both tile widths sum every output in the same order as `GEMM.run` (K blocks of
    /// `GEMM.kBlock`), so the AVX2 and AVX-512 paths agree bit for bit.
    static func convSmallOutput(_ x: UnsafePointer<Float>, h: Int, w: Int, plan: Conv2DPlan, oh: Int, ow: Int,
                                weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, activation: Activation,
                                out: UnsafeMutablePointer<Float>, accumulate: Bool, threads: Int) {
        let n = oh * ow, k = plan.kPerGroup, m = plan.outC
        // Positions per panel: 6, or 7 with AVX-512 where that wastes fewer (7×7 maps: 49 = 7 · 7
        // instead of 9 · 6 = 54 computed).
        let width = Conv2DPlan.channelPanel
        let mr = GEMM.useAVX512 && (n + 6) / 7 * 7 < (n + 5) / 6 * 6 ? 7 : GEMM.mr
        let channelPanels = (m + width - 1) / width, positionPanels = (n + mr - 1) / mr
        let ldc = channelPanels * width
        // B^T source: element (k, position) = base[offsets[k] + index[position]].
        let layout = PhaseLayout(plan: plan, h: h, w: w, oh: oh, ow: ow)
        let pointwise = plan.pointwise
        let channelFloats = pointwise ? h * w : layout.planesFloats
        var planes: UnsafeMutablePointer<Float>? = nil
        if !pointwise {
            let p = AlignedFloats.allocate(plan.inC * channelFloats)
            p.initialize(repeating: 0, count: plan.inC * channelFloats)
            for c in 0..<plan.inC { layout.load(x + c * h * w, into: p + c * channelFloats) }
            planes = p
        }
        defer { planes?.deallocate() }
        let base = SendablePointer(planes ?? UnsafeMutablePointer(mutating: x))
        let offsets = UnsafeMutablePointer<Int>.allocate(capacity: k)
        let index = UnsafeMutablePointer<Int>.allocate(capacity: positionPanels * mr)
        defer {
            offsets.deallocate()
            index.deallocate()
        }
        let taps = pointwise ? 1 : layout.taps
        for c in 0..<plan.inC {
            for t in 0..<taps { offsets[c * taps + t] = c * channelFloats + (pointwise ? 0 : layout.offsets[t] / 4) }
        }
        let wq = pointwise ? ow : layout.wq
        for q in 0..<positionPanels * mr { index[q] = q < n ? q / ow * wq + q % ow : 0 }
        let result = AlignedFloats.allocate(positionPanels * mr * ldc)
        let packed = AlignedFloats.allocate(positionPanels * mr * k)
        defer {
            result.deallocate()
            packed.deallocate()
        }
        let kc = GEMM.kBlock(k)
        let offs = SendablePointer(offsets), idx = SendablePointer(index), rp = SendablePointer(result)
        let wp = SendablePointer(UnsafeMutablePointer(mutating: weights)), pk = SendablePointer(packed)
        let useThreads = n * k * m < 65536 ? 1 : threads
        // B^T once for all threads: per 6-position panel, K rows of 6 interleaved positions.
        parallelFor(positionPanels, threads: useThreads) { range in
            for p in range {
                let dst = pk.p + p * mr * k
                let pos = idx.p + p * mr
                if mr == 7 {
                    for kk in 0..<k {
                        let src = base.p + offs.p[kk]
                        let d = dst + kk &* 7
                        d[0] = src[pos[0]]; d[1] = src[pos[1]]; d[2] = src[pos[2]]; d[3] = src[pos[3]]
                        d[4] = src[pos[4]]; d[5] = src[pos[5]]; d[6] = src[pos[6]]
                    }
                    continue
                }
                for kk in 0..<k {
                    let src = base.p + offs.p[kk]
                    let d = dst + kk &* 6
                    d[0] = src[pos[0]]; d[1] = src[pos[1]]; d[2] = src[pos[2]]
                    d[3] = src[pos[3]]; d[4] = src[pos[4]]; d[5] = src[pos[5]]
                }
            }
        }
        parallelFor(channelPanels, threads: useThreads, chunksPerThread: 1) { panels in
            var k0 = 0
            while k0 < k {
                let kb = min(kc, k - k0)
                for cp in panels {
                    let bp = UnsafePointer(wp.p + (cp * k + k0) * width)
                    for p in 0..<positionPanels {
                        let rows = min(mr, n - p * mr)
                        let c = rp.p + p * mr * ldc + cp * width
                        let ap = UnsafePointer(pk.p + (p * k + k0) * mr)
                        #if KILN_X86_KERNELS
                            if mr == 7 {
                                GEMMTileAVX512.tile7(ap, bp, k: kb, ldb: width, c, ldc: ldc, rows: rows, accumulate: k0 > 0)
                                continue
                            }
                            if GEMM.useAVX512 {
                                GEMMTileAVX512.tile(ap, bp, k: kb, ldb: width, c, ldc: ldc, rows: rows, cols: width,
                                                    accumulate: k0 > 0, bias: nil)
                                continue
                            }
                        #endif
                        _ = GEMM.kernel(ap, bp, k: kb, ldb: width, c, ldc: ldc, rows: rows, cols: GEMM.nr, accumulate: k0 > 0)
                        _ = GEMM.kernel(ap, bp + GEMM.nr, k: kb, ldb: width, c + GEMM.nr, ldc: ldc, rows: rows, cols: GEMM.nr,
                                        accumulate: k0 > 0)
                    }
                }
                k0 += kb
            }
        }
        // Position-major results → NCHW, with bias, residual and activation.
        let op = SendablePointer(out)
        let bp = bias.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
        parallelFor(m, threads: n * m < 65536 ? 1 : threads) { channels in
            for ch in channels {
                let dst = op.p + ch * n
                let b = bp?.p[ch] ?? 0
                let src = rp.p + ch
                if accumulate {
                    for q in 0..<n { dst[q] = (src[q &* ldc] + b) + dst[q] }
                } else {
                    for q in 0..<n { dst[q] = src[q &* ldc] + b }
                }
                activation.apply(dst, n)
            }
        }
    }
}
