import KilnCore

/// Turns frames into model input tensors on the CPU, following `PreprocessSpec`'s arithmetic.
///
/// One instance belongs to one capture thread: it keeps the sampling tables for the last frame
/// size and a scratch row, and takes its output tensors from `tensorPool` (the loop gives them
/// back after inference), so steady-state preprocessing allocates nothing.
/// The vertical pass runs first over whole source rows (contiguous, vectorised by the compiler),
/// then the horizontal pass gathers from that one float row and normalises into the NCHW planes.
// unchecked: confined: the frame loop makes one per preprocessing thread and uses it only there.
public final class CPUPreprocessor: @unchecked Sendable {
    /// The spec this preprocessor implements.
    public let spec: PreprocessSpec
    private var tableKey: (w: Int, h: Int) = (0, 0)
    /// The geometry of the last frame size (the tables follow it).
    private var geometry: LetterboxGeometry
    private var x0: [Int32] = [], x1: [Int32] = [], fx: [Float] = []
    private var y0: [Int32] = [], y1: [Int32] = [], fy: [Float] = []
    private var row: [Float] = []
    private var planes: [Float] = []
    /// Output tensor bytes given back after inference, reused for later frames.
    public let tensorPool = ByteBufferPool(limit: 8)

    /// Creates a preprocessor for `spec`.
    public init(spec: PreprocessSpec) {
        self.spec = spec
        geometry = spec.geometry(frameWidth: spec.width, frameHeight: spec.height)
    }

    /// Preprocesses one RGB or BGR frame into a new `[1, 3, H, W]` tensor.
    public func tensor(for frame: Frame) throws -> (Tensor, LetterboxGeometry) {
        let count = 3 * spec.width * spec.height
        switch spec.outputType {
        case .float32:
            // Every element is written by `run` (padding and content), so the buffer is not cleared.
            var bytes = tensorPool.take(count: count * 4)
            let geometry = try bytes.withUnsafeMutableBytes { raw in
                try run(frame, into: raw.baseAddress!.bindMemory(to: Float.self, capacity: count))
            }
            return (Tensor(elementType: .float32, shape: [1, 3, spec.height, spec.width], bytes: bytes), geometry)
        case .float16:
            if planes.count != count { planes = [Float](repeating: 0, count: count) }
            let g = try planes.withUnsafeMutableBufferPointer { try run(frame, into: $0.baseAddress!) }
            var bytes = tensorPool.take(count: count * 2)
            bytes.withUnsafeMutableBytes { raw in
                let dst = raw.baseAddress!.assumingMemoryBound(to: Float16.self)
                planes.withUnsafeBufferPointer { src in
                    for i in 0..<count { dst[i] = Float16(src[i]) }
                }
            }
            return (Tensor(elementType: .float16, shape: [1, 3, spec.height, spec.width], bytes: bytes), g)
        }
    }

    /// Preprocesses one RGB or BGR frame into `output`: `3·H·W` floats, NCHW.
    ///
    /// Throws for pixel formats other than rgb24/bgr24 (sources convert to RGB first) and for
    /// frames whose byte count does not match their size.
    @discardableResult
    public func run(_ frame: Frame, into output: UnsafeMutablePointer<Float>) throws -> LetterboxGeometry {
        guard frame.format == .rgb24 || frame.format == .bgr24 else {
            throw RuntimeError("preprocess: frame \(frame.index) of \(frame.stream) is \(frame.format.rawValue); expected rgb24 or bgr24")
        }
        guard frame.width > 0, frame.height > 0, frame.pixels.count >= frame.width * frame.height * 3 else {
            throw RuntimeError("preprocess: frame \(frame.index) of \(frame.stream) has \(frame.pixels.count) bytes for \(frame.width)x\(frame.height) RGB")
        }
        if tableKey != (frame.width, frame.height) { prepareTables(w: frame.width, h: frame.height) }
        // Output channel c reads input channel ic[c].
        let swap = (frame.format == .rgb24) != (spec.channelOrder == .rgb)
        let ic0 = swap ? 2 : 0, ic2 = swap ? 0 : 2
        var a = [Float](repeating: 0, count: 3), b = [Float](repeating: 0, count: 3)
        for c in 0..<3 {
            a[c] = 1 / (255 * spec.std[c])
            b[c] = -spec.mean[c] / spec.std[c]
        }
        let W = spec.width, H = spec.height, plane = W * H
        let g = geometry
        // Padding: fill each plane's border with the normalised pad value.
        for c in 0..<3 {
            let pad = spec.padValue * a[c] + b[c]
            let p = output + c * plane
            if g.padY > 0 { p.update(repeating: pad, count: g.padY * W) }
            let bottom = g.padY + g.contentHeight
            if bottom < H { (p + bottom * W).update(repeating: pad, count: (H - bottom) * W) }
            if g.padX > 0 || g.padX + g.contentWidth < W {
                for y in g.padY..<bottom {
                    let r = p + y * W
                    if g.padX > 0 { r.update(repeating: pad, count: g.padX) }
                    let right = g.padX + g.contentWidth
                    if right < W { (r + right).update(repeating: pad, count: W - right) }
                }
            }
        }
        let rowLength = frame.width * 3
        let nw = g.contentWidth
        let a0 = a[0], a1 = a[1], a2 = a[2], b0 = b[0], b1 = b[1], b2 = b[2]
        frame.pixels.withUnsafeBufferPointer { src in
            row.withUnsafeMutableBufferPointer { rowBuf in
                let v = rowBuf.baseAddress!
                x0.withUnsafeBufferPointer { x0p in
                    x1.withUnsafeBufferPointer { x1p in
                        fx.withUnsafeBufferPointer { fxp in
                            for y in 0..<g.contentHeight {
                                // Vertical pass over the whole source row pair.
                                let top = src.baseAddress! + Int(y0[y]) * rowLength
                                let bot = src.baseAddress! + Int(y1[y]) * rowLength
                                let w = fy[y]
                                if w == 0 {
                                    for i in 0..<rowLength { v[i] = Float(top[i]) }
                                } else {
                                    for i in 0..<rowLength {
                                        let t = Float(top[i])
                                        v[i] = t + w * (Float(bot[i]) - t)
                                    }
                                }
                                // Horizontal gather, normalise, write NCHW.
                                let base = (g.padY + y) * W + g.padX
                                let o0 = output + base, o1 = output + plane + base, o2 = output + 2 * plane + base
                                for x in 0..<nw {
                                    let p0 = Int(x0p[x]), p1 = Int(x1p[x]), f = fxp[x]
                                    let r0 = v[p0 + ic0] + f * (v[p1 + ic0] - v[p0 + ic0])
                                    let r1 = v[p0 + 1] + f * (v[p1 + 1] - v[p0 + 1])
                                    let r2 = v[p0 + ic2] + f * (v[p1 + ic2] - v[p0 + ic2])
                                    o0[x] = r0 * a0 + b0
                                    o1[x] = r1 * a1 + b1
                                    o2[x] = r2 * a2 + b2
                                }
                            }
                        }
                    }
                }
            }
        }
        return g
    }

    private func prepareTables(w: Int, h: Int) {
        tableKey = (w, h)
        geometry = spec.geometry(frameWidth: w, frameHeight: h)
        func table(source: Int, dest: Int) -> ([Int32], [Int32], [Float]) {
            var i0 = [Int32](repeating: 0, count: dest), i1 = i0, f = [Float](repeating: 0, count: dest)
            let scale = Float(source) / Float(dest)
            for d in 0..<dest {
                var s = (Float(d) + 0.5) * scale - 0.5
                if s < 0 { s = 0 }
                var lo = Int(s.rounded(.down))
                if lo > source - 1 { lo = source - 1 }
                let hi = min(lo + 1, source - 1)
                i0[d] = Int32(lo)
                i1[d] = Int32(hi)
                f[d] = hi == lo ? 0 : s - Float(lo)
            }
            return (i0, i1, f)
        }
        let (ax0, ax1, afx) = table(source: w, dest: geometry.contentWidth)
        x0 = ax0.map { $0 * 3 }
        x1 = ax1.map { $0 * 3 }
        fx = afx
        (y0, y1, fy) = table(source: h, dest: geometry.contentHeight)
        row = [Float](repeating: 0, count: w * 3)
    }
}
