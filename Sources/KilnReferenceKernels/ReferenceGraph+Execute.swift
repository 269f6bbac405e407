import Foundation
import KilnCore
import Synchronization

extension RGraph {
    /// Runs the graph on input values (by slot) and returns every output slot's value.
    ///
    /// `observe` sees each node's outputs as they are produced (shape inference uses it).
    func execute(_ feeds: [Int: RTensor], threads: Int, freeing: [[Int]]? = nil,
                 observe: ((RNode, [RTensor]) -> Void)? = nil) throws -> [RTensor] {
        var values = [RTensor?](repeating: nil, count: valueNames.count)
        for (slot, t) in constants { values[slot] = t }
        for (slot, t) in feeds { values[slot] = t }
        for (index, node) in nodes.enumerated() {
            let ins = node.inputs.map { $0 >= 0 ? values[$0] : nil }
            let started = ReferenceProfile.isEnabled ? MonotonicClock.now : 0
            let outs = try ReferenceKernels.execute(node, ins, threads: threads)
            if ReferenceProfile.isEnabled { ReferenceProfile.add(node, seconds: MonotonicClock.now - started, inputs: ins) }
            for (k, slot) in node.outputs.enumerated() where slot >= 0 {
                guard k < outs.count else {
                    throw InvalidModelError("\(node.label): output \(k) (\(valueNames[slot])) is not produced by this op")
                }
                values[slot] = outs[k]
            }
            observe?(node, outs)
            if let freeing { for s in freeing[index] { values[s] = nil } }
        }
        return try outputs.map { slot in
            guard let v = values[slot] else { throw InvalidModelError("graph output \(valueNames[slot]) was not produced") }
            return v
        }
    }
}

/// Per-op timing of reference engine runs: on with `kiln run --profile-ops` (or
/// `KILN_REFERENCE_PROFILE=1`, which `kiln-bench reference` reads), printed at the end by callers.
///
/// Each node keeps its run count, total and fastest time. The per-kind table sums each node's
/// fastest run, so a busy machine's stalls do not hide where the time goes (1×1, depthwise and
/// k×k convolutions apart); the per-node table shows the mean as well.
enum ReferenceProfile {
    /// One node's timings.
    struct NodeTime {
        /// The op kind the per-kind table groups by.
        var kind: String
        /// Runs timed.
        var runs = 0
        /// Seconds over all runs.
        var total = 0.0
        /// The fastest run's seconds.
        var fastest = Double.infinity
    }

    /// Whether profiling is on.
    static let enabled = Atomic<Bool>(ProcessInfo.processInfo.environment["KILN_REFERENCE_PROFILE"] == "1")
    /// Node (label and input shape) → its timings.
    static let nodes = Mutex<[String: NodeTime]>([:])

    /// Whether profiling is on (read per node: one relaxed load).
    @inline(__always) static var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// Records one run of `node`.
    static func add(_ node: RNode, seconds: Double, inputs: [RTensor?]) {
        let key = node.label + " " + (inputs.first??.shape.description ?? "")
        nodes.withLock { t in
            if t[key] == nil {
                var kind = node.op.rawValue
                if node.op.isConvolution {
                    let w = node.fusion.packedWeights?.shape ?? inputs[1]?.shape ?? []
                    let g = node.int("group", 1)
                    kind += g > 1 ? " depthwise k\(w.count > 2 ? w[2] : 0)" : (w.count > 2 && w[2] == 1 ? " 1x1" : " kxk")
                }
                t[key] = NodeTime(kind: kind)
            }
            t[key]!.runs += 1
            t[key]!.total += seconds
            t[key]!.fastest = min(t[key]!.fastest, seconds)
        }
    }

    /// Per op kind: the sum of its nodes' fastest seconds and the node count.
    private static func kinds(_ t: [String: NodeTime]) -> [String: (Double, Int)] {
        var kinds: [String: (Double, Int)] = [:]
        for v in t.values { kinds[v.kind, default: (0, 0)].0 += v.fastest; kinds[v.kind, default: (0, 0)].1 += 1 }
        return kinds
    }

    /// Summed fastest milliseconds per op kind, largest first.
    static func byKind() -> [(kind: String, milliseconds: Double)] {
        nodes.withLock { t in kinds(t).map { (kind: $0.key, milliseconds: $0.value.0 * 1000) }.sorted { $0.milliseconds > $1.milliseconds } }
    }

    /// A table of summed fastest milliseconds per op kind, largest first, and the total; then the
    /// `slowestNodes` nodes with the largest mean time (all of them with
    /// `KILN_REFERENCE_PROFILE_NODES=1`). Empty when nothing was timed.
    static func report(slowestNodes: Int = 0) -> String {
        nodes.withLock { t in
            guard !t.isEmpty else { return "" }
            let kinds = Self.kinds(t)
            let total = kinds.values.reduce(0) { $0 + $1.0 }
            let all = ProcessInfo.processInfo.environment["KILN_REFERENCE_PROFILE_NODES"] == "1"
            let count = all ? t.count : min(slowestNodes, t.count)
            // `%-24@` does not pad on Linux's Foundation: pad the text columns by hand.
            func column(_ text: String, _ width: Int) -> String {
                text.count >= width ? text + " " : text.padding(toLength: width, withPad: " ", startingAt: 0)
            }
            var lines = kinds.sorted { $0.value.0 > $1.value.0 }.map {
                column($0.key, 24) + String(format: "%9.3f ms %6d nodes", $0.value.0 * 1000, $0.value.1)
            }
            lines.append(column("total", 24) + String(format: "%9.3f ms (sum of each node's fastest run)", total * 1000))
            if count > 0 {
                lines.append(column("mean ms", 12) + column("fastest ms", 12) + column("op", 24) + "node and input shape")
                for (key, v) in t.sorted(by: { $0.value.total / Double($0.value.runs) > $1.value.total / Double($1.value.runs) }).prefix(count) {
                    lines.append(String(format: "%-11.3f %-11.3f ", v.total / Double(v.runs) * 1000, v.fastest * 1000) + column(v.kind, 24) + key)
                }
            }
            return lines.joined(separator: "\n")
        }
    }
}
