import KilnCore

/// Passes that remove elementwise nodes exporters spell out around convolutions: a constant
/// scale and shift after a Conv (folded into its weights and bias), and HardSwish written as
/// `x · Clip(x + 3, 0, 6) / 6` (one op, which `fuseActivations` then folds into the Conv).
extension ReferenceOptimizer {
    /// The bounds of a Clip node with constant bounds (attributes before opset 11, inputs after);
    /// nil when a bound is not a constant.
    static func clipBounds(_ a: RNode, _ g: RGraph) -> (lo: Float, hi: Float)? {
        if a.opset < 11 { return (a.float("min", -.infinity), a.float("max", .infinity)) }
        let lo = a.inputs.count > 1 && a.inputs[1] >= 0 ? g.constants[a.inputs[1]]?.floats.first : -.infinity
        let hi = a.inputs.count > 2 && a.inputs[2] >= 0 ? g.constants[a.inputs[2]]?.floats.first : .infinity
        guard let lo, let hi else { return nil }
        return (lo, hi)
    }

    /// The value of a constant slot holding a single float; nil for anything else.
    static func scalar(_ slot: Int, _ g: RGraph) -> Float? {
        guard slot >= 0, let t = g.constants[slot], t.isFloat, t.count == 1 else { return nil }
        return t.f[0]
    }

    /// Folds `Mul(Conv(x), s)` and `Add(Conv(x), t)` into the Conv, where `s` and `t` are
    /// constants holding one value or one per output channel (shape `[M,1,…]` right-aligned to
    /// the output, so the result keeps the Conv's shape): weights and bias are scaled by `s`,
    /// `t` is added to the bias. Repeats while a Conv is followed by another such node.
    static func foldConvScaleShift(_ g: inout RGraph, _ report: inout Report) {
        let graphOutputs = Set(g.outputs)
        var changed = true
        while changed {
            changed = false
            var readersOf: [Int: [Int]] = [:]
            for (k, n) in g.nodes.enumerated() { for s in n.inputs where s >= 0 { readersOf[s, default: []].append(k) } }
            var dead = Set<Int>()
            for ci in g.nodes.indices where g.nodes[ci].op == .conv && !dead.contains(ci) {
                let conv = g.nodes[ci]
                let y = conv.outputs[0]
                guard conv.inputs.count >= 2, let w = g.constants[conv.inputs[1]], w.isFloat, w.type == .float32, w.rank >= 3,
                    !graphOutputs.contains(y), let rs = readersOf[y], rs.count == 1 else { continue }
                let ni = rs[0], next = g.nodes[ni]
                guard !dead.contains(ni), next.op == .mul || next.op == .add, next.inputs.count == 2, next.outputs.count == 1,
                    let other = next.inputs.first(where: { $0 != y }), next.inputs.contains(y),
                    let c = g.constants[other], c.isFloat, c.rank <= w.rank
                else { continue }
                let m = w.shape[0]
                // One value, or one per output channel on axis 1 of the output.
                let axis = c.rank - (w.rank - 1)
                let perChannel = c.count == m && c.shape.enumerated().allSatisfy { $0.offset == axis ? $0.element == m : $0.element == 1 }
                guard c.count == 1 || perChannel else { continue }
                let values = c.floats
                let value = { (o: Int) in values.count == 1 ? values[0] : values[o] }
                var bias = [Float](repeating: 0, count: m)
                if conv.inputs.count > 2, conv.inputs[2] >= 0 {
                    guard let b = g.constants[conv.inputs[2]], b.count == m else { continue }
                    bias = b.floats
                }
                var weights = w
                if next.op == .mul {
                    let per = w.count / m
                    for o in 0..<m {
                        let s = value(o)
                        for j in 0..<per { weights.f[o * per + j] *= s }
                        bias[o] *= s
                    }
                } else {
                    for o in 0..<m { bias[o] += value(o) }
                }
                let wSlot = newSlot(&g, g.valueNames[conv.inputs[1]] + "_scaled")
                let bSlot = newSlot(&g, g.valueNames[next.outputs[0]] + "_bias")
                g.constants[wSlot] = weights
                g.constants[bSlot] = RTensor([m], floats: bias, type: w.type)
                g.nodes[ci].inputs = [conv.inputs[0], wSlot, bSlot]
                g.nodes[ci].outputs = next.outputs
                dead.insert(ni)
                report.scaleShiftsFolded += 1
                changed = true
            }
            g.removeNodes(at: dead)
        }
    }

    /// Replaces `x · Clip(x + 3, 0, 6) / 6` (the division before or after the product) and
    /// `x · HardSigmoid(x)` with α = 1/6, β = 1/2 by one HardSwish node of `x`.
    static func recognizeHardSwish(_ g: inout RGraph, _ report: inout Report) {
        let graphOutputs = Set(g.outputs)
        var readersOf: [Int: [Int]] = [:]
        for (k, n) in g.nodes.enumerated() { for s in n.inputs where s >= 0 { readersOf[s, default: []].append(k) } }
        /// The only reader of `slot` (an intermediate that is not a graph output).
        func soleReader(_ slot: Int) -> Int? {
            guard !graphOutputs.contains(slot), let rs = readersOf[slot], rs.count == 1 else { return nil }
            return rs[0]
        }
        /// `Mul(x, v)` (either order) reading `v`, as its index.
        func product(of v: Int, with x: Int) -> Int? {
            guard let k = soleReader(v), g.nodes[k].op == .mul, g.nodes[k].inputs.count == 2,
                Set(g.nodes[k].inputs) == Set([x, v]), x != v else { return nil }
            return k
        }
        /// `Div(v, 6)` reading `v`, as its index.
        func divisionBySix(_ v: Int) -> Int? {
            guard let k = soleReader(v), g.nodes[k].op == .div, g.nodes[k].inputs.count == 2, g.nodes[k].inputs[0] == v,
                scalar(g.nodes[k].inputs[1], g) == 6 else { return nil }
            return k
        }
        var dead = Set<Int>()
        for ai in g.nodes.indices where !dead.contains(ai) {
            let first = g.nodes[ai]
            var x = -1, chain: [Int] = []
            if first.op == .add, first.inputs.count == 2, let three = first.inputs.firstIndex(where: { scalar($0, g) == 3 }) {
                // Add(x, 3) → Clip(0, 6) → (Mul(x, ·) → Div(6)) or (Div(6) → Mul(x, ·)).
                x = first.inputs[1 - three]
                guard x >= 0, g.constants[x] == nil, let ci = soleReader(first.outputs[0]), g.nodes[ci].op == .clip,
                    g.nodes[ci].inputs[0] == first.outputs[0], let bounds = clipBounds(g.nodes[ci], g), bounds == (0, 6)
                else { continue }
                let clipped = g.nodes[ci].outputs[0]
                if let mi = product(of: clipped, with: x), let di = divisionBySix(g.nodes[mi].outputs[0]) {
                    chain = [ai, ci, mi, di]
                } else if let di = divisionBySix(clipped), let mi = product(of: g.nodes[di].outputs[0], with: x) {
                    chain = [ai, ci, di, mi]
                } else { continue }
            } else if first.op == .hardSigmoid, abs(first.float("alpha", 0.2) - 1 / 6) < 1e-7, first.float("beta", 0.5) == 0.5,
                let s = first.outputs.first, let mi = product(of: s, with: first.inputs[0]) {
                x = first.inputs[0]
                chain = [ai, mi]
            } else { continue }
            guard chain.allSatisfy({ g.nodes[$0].outputs.count == 1 && !dead.contains($0) }) else { continue }
            let last = chain.last!
            g.nodes[last] = RNode(name: g.nodes[last].name, op: .hardSwish, opset: max(14, first.opset), inputs: [x],
                                  outputs: g.nodes[last].outputs, attributes: [:])
            dead.formUnion(chain.dropLast())
            report.hardSwishes += 1
        }
        g.removeNodes(at: dead)
    }
}
