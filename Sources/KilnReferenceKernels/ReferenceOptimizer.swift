import KilnCore

/// The reference backend's build-time graph passes: shape inference, constant folding, Identity and
/// Dropout removal, BatchNormalization folding, Conv+activation and Conv+residual Add fusion and
/// weight packing.
package enum ReferenceOptimizer {
    /// Statistics of one optimisation run (logged and reported by the build).
    package struct Report: Sendable, CustomStringConvertible {
        var folded = 0, removed = 0, batchNormsFolded = 0, activationsFused = 0, residualsFused = 0, packed = 0, shapesInferred = 0
        var scaleShiftsFolded = 0, hardSwishes = 0
        package var description: String {
            "folded \(folded) constant nodes, removed \(removed) Identity/Dropout, folded \(batchNormsFolded) BatchNormalization and \(scaleShiftsFolded) constant Mul/Add into convolutions, recognised \(hardSwishes) HardSwish, fused \(activationsFused) activations and \(residualsFused) residual Adds, packed \(packed) conv weights, inferred \(shapesInferred) shapes"
        }
    }

    /// The passes in order, as a build's progress names them (`optimize` reports each as it starts).
    package static let passes = ["removing Identity and Dropout", "folding constants", "inferring shapes", "folding BatchNormalization",
                         "folding constant scales", "recognising HardSwish", "fusing activations", "fusing residual Adds", "packing weights"]

    /// Applies every pass in order and returns the optimised graph; `pass` hears the index
    /// (into `passes`) of each pass as it starts.
    package static func optimize(_ input: RGraph, threads: Int, pass: (Int) -> Void = { _ in }) throws -> (RGraph, Report) {
        var g = input
        var report = Report()
        pass(0)
        removeIdentities(&g, &report)
        pass(1)
        try foldConstants(&g, &report, threads: threads)
        var shapes: [Int: [Int]] = [:]
        pass(2)
        if let inferred = try inferShapes(g, threads: threads) {
            shapes = inferred
            report.shapesInferred = shapes.count
            // Shape of a statically shaped value is a constant.
            var folded = Set<Int>()
            for k in g.nodes.indices where g.nodes[k].op == .shape {
                let node = g.nodes[k]
                if let s = shapes[node.inputs[0]], node.outputs[0] >= 0 {
                    g.constants[node.outputs[0]] = ReferenceKernels.shapeOp(node, RTensor.zeros(.float32, s).reshaped(s))
                    folded.insert(k)
                }
            }
            g.removeNodes(at: folded)
            try foldConstants(&g, &report, threads: threads)
        }
        pass(3)
        foldBatchNorm(&g, &report)
        pass(4)
        foldConvScaleShift(&g, &report)
        pass(5)
        recognizeHardSwish(&g, &report)
        pass(6)
        fuseActivations(&g, &report)
        pass(7)
        fuseResidualAdds(&g, shapes: shapes, &report)
        pass(8)
        pack(&g, shapes: shapes, &report)
        pruneUnused(&g)
        return (g, report)
    }

    /// Rewires readers of Identity (and inference-mode Dropout) outputs to their inputs.
    static func removeIdentities(_ g: inout RGraph, _ report: inout Report) {
        let graphOutputs = Set(g.outputs)
        var alias: [Int: Int] = [:]
        var kept: [RNode] = []
        for var node in g.nodes {
            node.inputs = node.inputs.map { alias[$0] ?? $0 }
            let isDropout = node.op == .dropout && (node.outputs.count < 2 || node.outputs[1] < 0)
                && node.int("training_mode", 0) == 0 && (node.inputs.count < 3 || node.inputs[2] < 0)
            if (node.op == .identity || isDropout), node.inputs.first.map({ $0 >= 0 }) == true,
                !graphOutputs.contains(node.outputs[0]) {
                alias[node.outputs[0]] = node.inputs[0]
                report.removed += 1
                continue
            }
            kept.append(node)
        }
        g.nodes = kept
    }

    /// Evaluates nodes whose inputs are all constant and stores their outputs as constants.
    static func foldConstants(_ g: inout RGraph, _ report: inout Report, threads: Int) throws {
        var kept: [RNode] = []
        for node in g.nodes {
            let ins = node.inputs.filter { $0 >= 0 }
            if ins.allSatisfy({ g.constants[$0] != nil }) && node.op != .kilnConv {
                let values = node.inputs.map { $0 >= 0 ? g.constants[$0] : nil }
                let folded: [RTensor]?
                do { folded = try ReferenceKernels.execute(node, values, threads: threads) } catch let e as ModelLimitError { throw e } catch { folded = nil }
                if let outs = folded, outs.count >= node.outputs.filter({ $0 >= 0 }).count {
                    let big = outs.contains { $0.count > 1 << 22 }
                    if !big {
                        for (k, slot) in node.outputs.enumerated() where slot >= 0 && k < outs.count { g.constants[slot] = outs[k] }
                        report.folded += 1
                        continue
                    }
                }
            }
            kept.append(node)
        }
        g.nodes = kept
    }

    /// Infers every value's shape by running the graph once on zeros, when all input shapes are static.
    /// A size the model implies beyond the budget (`ModelLimitError`) is thrown; other failures
    /// only mean shapes stay unknown (the run reports them).
    static func inferShapes(_ g: RGraph, threads: Int) throws -> [Int: [Int]]? {
        var feeds: [Int: RTensor] = [:]
        for (slot, d) in zip(g.inputs, g.inputDescriptors) {
            guard d.shape.allSatisfy({ $0 != nil }) else { return nil }
            feeds[slot] = RTensor.zeros(d.elementType, d.shape.map { $0! })
        }
        var shapes: [Int: [Int]] = [:]
        for (slot, t) in feeds { shapes[slot] = t.shape }
        for (slot, t) in g.constants { shapes[slot] = t.shape }
        // Values computed from the zeros fed in are not the model's (shapes are): a size found
        // beyond the budget is the model's fault only when the values it came from are real.
        var fake = Set(g.inputs)
        for node in g.nodes where node.op != .shape && node.inputs.contains(where: { fake.contains($0) }) {
            fake.formUnion(node.outputs.filter { $0 >= 0 })
        }
        var completed = 0
        do {
            _ = try g.execute(feeds, threads: threads) { node, outs in
                completed += 1
                for (k, slot) in node.outputs.enumerated() where slot >= 0 && k < outs.count { shapes[slot] = outs[k].shape }
            }
        } catch let error as ModelLimitError {
            guard completed < g.nodes.count else { throw error }
            let node = g.nodes[completed]
            let valueInputs = ReferenceKernels.limitValueInputs(node)
            if !node.inputs.enumerated().contains(where: { valueInputs.contains($0.offset) && fake.contains($0.element) }) { throw error }
            return nil
        } catch {
            return nil
        }
        return shapes
    }

    /// Folds an inference-mode BatchNormalization into the Conv that alone feeds it.
    static func foldBatchNorm(_ g: inout RGraph, _ report: inout Report) {
        let readers = g.readerCounts()
        var producer: [Int: Int] = [:]
        for (k, n) in g.nodes.enumerated() { for o in n.outputs where o >= 0 { producer[o] = k } }
        var folded = Set<Int>()
        for k in g.nodes.indices {
            let bn = g.nodes[k]
            guard bn.op == .batchNormalization, bn.outputs.filter({ $0 >= 0 }).count == 1, bn.int("training_mode", 0) == 0,
                bn.inputs.count >= 5, let ci = producer[bn.inputs[0]], g.nodes[ci].op == .conv, readers[bn.inputs[0]] == 1,
                let scale = g.constants[bn.inputs[1]], let beta = g.constants[bn.inputs[2]],
                let mean = g.constants[bn.inputs[3]], let variance = g.constants[bn.inputs[4]]
            else { continue }
            let conv = g.nodes[ci]
            guard conv.inputs.count >= 2, let w = g.constants[conv.inputs[1]], w.isFloat, w.rank >= 3 else { continue }
            let m = w.shape[0]
            guard scale.count == m, beta.count == m, mean.count == m, variance.count == m else { continue }
            var bias = [Float](repeating: 0, count: m)
            if conv.inputs.count > 2, conv.inputs[2] >= 0 {
                guard let b = g.constants[conv.inputs[2]], b.count == m else { continue }
                bias = b.floats
            }
            let eps = bn.float("epsilon", 1e-5)
            let per = w.count / m
            var nw = w.f
            var nb = bias
            let sc = scale.floats, bt = beta.floats, mu = mean.floats, va = variance.floats
            for o in 0..<m {
                let a = sc[o] / (va[o] + eps).squareRoot()
                for j in 0..<per { nw[o * per + j] *= a }
                nb[o] = (bias[o] - mu[o]) * a + bt[o]
            }
            let wSlot = newSlot(&g, g.valueNames[conv.inputs[1]] + "_bnfolded")
            let bSlot = newSlot(&g, g.valueNames[bn.outputs[0]] + "_bias")
            g.constants[wSlot] = RTensor(type: w.type, shape: w.shape, f: nw)
            g.constants[bSlot] = RTensor([m], floats: nb, type: w.type)
            g.nodes[ci].inputs = [conv.inputs[0], wSlot, bSlot]
            g.nodes[ci].outputs = [bn.outputs[0]]
            folded.insert(k)
            report.batchNormsFolded += 1
        }
        g.removeNodes(at: folded)
    }

    /// Fuses Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid, HardSwish and x·sigmoid(x) into the preceding Conv.
    static func fuseActivations(_ g: inout RGraph, _ report: inout Report) {
        let graphOutputs = Set(g.outputs)
        var readersOf: [Int: [Int]] = [:]
        for (k, n) in g.nodes.enumerated() { for s in n.inputs where s >= 0 { readersOf[s, default: []].append(k) } }
        var fused = Set<Int>()
        for ci in g.nodes.indices where g.nodes[ci].op == .conv {
            let y = g.nodes[ci].outputs[0]
            guard !graphOutputs.contains(y), let rs = readersOf[y] else { continue }
            var act: Activation?
            var finalOutput = -1
            var dead: [Int] = []
            if rs.count == 1 {
                let a = g.nodes[rs[0]]
                switch a.op {
                case .relu: act = .relu
                case .leakyRelu: act = .leakyRelu(a.float("alpha", 0.01))
                case .sigmoid: act = .sigmoid
                case .hardSigmoid: act = .hardSigmoid(a.float("alpha", 0.2), a.float("beta", 0.5))
                case .hardSwish: act = .hardSwish
                case .clip: if let (lo, hi) = clipBounds(a, g) { act = .clip(lo, hi) }
                default: break
                }
                if act != nil && a.outputs.count == 1 { finalOutput = a.outputs[0]; dead = [rs[0]] } else { act = nil }
            } else if rs.count == 2 {
                let (n0, n1) = (g.nodes[rs[0]], g.nodes[rs[1]])
                let (sig, mulIndex) = n0.op == .sigmoid ? (n0, rs[1]) : (n1, rs[0])
                let mul = g.nodes[mulIndex]
                if sig.op == .sigmoid, mul.op == .mul, let s = sig.outputs.first, readersOf[s] == [mulIndex],
                    !graphOutputs.contains(s), Set(mul.inputs) == Set([y, s]) {
                    act = .swish
                    finalOutput = mul.outputs[0]
                    dead = [rs[0], rs[1]]
                }
            }
            guard let act, finalOutput >= 0 else { continue }
            g.nodes[ci].fusion.activation = act
            g.nodes[ci].outputs = [finalOutput]
            fused.formUnion(dead)
            report.activationsFused += 1
        }
        g.removeNodes(at: fused)
    }

    /// Fuses Add(Conv(x), r) — and a Relu after it — into the Conv: y = act(conv(x) + bias + r).
    ///
    /// The residual `r` (same shape as the Conv's output, from `shapes`) becomes the Conv's fourth
    /// input and is summed into the output before the activation (the GEMM accumulates onto it),
    /// so the residual blocks of ResNet-style models need no separate Add and Relu passes. The
    /// fused node takes the Add's place in the order, where `r` is known to be computed.
    static func fuseResidualAdds(_ g: inout RGraph, shapes: [Int: [Int]], _ report: inout Report) {
        let graphOutputs = Set(g.outputs)
        var readersOf: [Int: [Int]] = [:]
        for (k, n) in g.nodes.enumerated() { for s in n.inputs where s >= 0 { readersOf[s, default: []].append(k) } }
        var dead = Set<Int>()
        for ci in g.nodes.indices where g.nodes[ci].op == .conv && g.nodes[ci].fusion.activation == .none {
            let y = g.nodes[ci].outputs[0]
            guard !graphOutputs.contains(y), let rs = readersOf[y], rs.count == 1, g.nodes[rs[0]].op == .add else { continue }
            let ai = rs[0], add = g.nodes[ai]
            guard add.inputs.count == 2, add.outputs.count == 1, add.inputs[0] != add.inputs[1],
                let residual = add.inputs.first(where: { $0 != y }), residual >= 0,
                let ys = shapes[y], shapes[residual] == ys, g.nodes[ci].inputs.count <= 3
            else { continue }
            var fused = g.nodes[ci]
            fused.outputs = add.outputs
            var relu: Int?
            if !graphOutputs.contains(add.outputs[0]), let next = readersOf[add.outputs[0]], next.count == 1,
                g.nodes[next[0]].op == .relu, g.nodes[next[0]].outputs.count == 1 {
                relu = next[0]
                fused.outputs = g.nodes[next[0]].outputs
                fused.fusion.activation = .relu
            }
            while fused.inputs.count < 3 { fused.inputs.append(-1) }
            fused.inputs.append(residual)
            g.nodes[ai] = fused
            dead.insert(ci)
            if let relu { dead.insert(relu) }
            report.residualsFused += 1
        }
        g.removeNodes(at: dead)
    }

    /// Turns every 1-D/2-D Conv with constant weights into a KilnConv with weights packed for the
    /// GEMM kernel — or, for small output maps (`Conv2DPlan.prefersSmallOutput`, known from
    /// `shapes`), in the channel panels of `convSmallOutput`.
    static func pack(_ g: inout RGraph, shapes: [Int: [Int]], _ report: inout Report) {
        for k in g.nodes.indices where g.nodes[k].op == .conv {
            let node = g.nodes[k]
            guard node.inputs.count >= 2, let w = g.constants[node.inputs[1]], w.isFloat, w.rank == 3 || w.rank == 4 else { continue }
            let group = node.int("group", 1)
            let two = w.rank == 4
            let plan = Conv2DPlan(inC: w.shape[1] * group, outC: w.shape[0], group: group, kh: two ? w.shape[2] : 1,
                                  kw: w.shape[two ? 3 : 2], sh: 1, sw: 1, dh: 1, dw: 1, padT: 0, padL: 0)
            guard group > 0, w.shape[0] % group == 0 else { continue }
            if let ks = node.ints("kernel_shape"), ks != Array(w.shape[2...]) { continue }
            let slot = newSlot(&g, g.valueNames[node.inputs[1]] + "_packed")
            let outShape = node.outputs.first.flatMap { shapes[$0] } ?? []
            let positions = outShape.count == w.rank ? outShape[2...].reduce(1, *) : 0
            let layout: ConvFusion.Layout
            if two && plan.prefersSmallOutput(positions: positions) {
                let panels = plan.packChannelPanels(w.f)
                g.constants[slot] = RTensor([panels.count], floats: panels, type: .float32)
                layout = .channelPanels
            } else {
                g.constants[slot] = RTensor([plan.depthwise ? w.count : plan.packedGroupSize * group], floats: plan.pack(w.f), type: .float32)
                layout = .rowPanels
            }
            g.nodes[k].op = .kilnConv
            g.nodes[k].inputs[1] = slot
            g.nodes[k].fusion.packedWeights = ConvFusion.PackedWeights(layout: layout, shape: w.shape)
            report.packed += 1
        }
    }

    /// Drops constants nothing reads (folded-away intermediates, unpacked weights).
    static func pruneUnused(_ g: inout RGraph) {
        var used = Set(g.outputs)
        for n in g.nodes { for s in n.inputs where s >= 0 { used.insert(s) } }
        for slot in Array(g.constants.keys) where !used.contains(slot) { g.constants[slot] = nil }
    }

    static func newSlot(_ g: inout RGraph, _ name: String) -> Int {
        g.valueNames.append(name)
        return g.valueNames.count - 1
    }
}
