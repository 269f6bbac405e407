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
            let started = ReferenceProfile.enabled ? MonotonicClock.now : 0
            let outs = try ReferenceKernels.execute(node, ins, threads: threads)
            if ReferenceProfile.enabled { ReferenceProfile.add(node, seconds: MonotonicClock.now - started, inputs: ins) }
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

/// Per-op timing of reference engine runs, enabled with `KILN_REFERENCE_PROFILE=1` (printed at exit by callers).
///
/// Each node keeps its fastest time over all runs, so a busy machine's stalls do not hide where
/// the time goes; the report sums those per op kind (1×1, depthwise and k×k convolutions apart).
enum ReferenceProfile {
    /// Whether profiling is on.
    static let enabled = ProcessInfo.processInfo.environment["KILN_REFERENCE_PROFILE"] == "1"
    /// Node (label and input shape) → op kind and fastest seconds.
    static let fastest = Mutex<[String: (kind: String, seconds: Double)]>([:])

    /// Records one run of `node`.
    static func add(_ node: RNode, seconds: Double, inputs: [RTensor?]) {
        var kind = node.op
        if node.op == "KilnConv" || node.op == "Conv" {
            let w = node.ints("weight_shape") ?? inputs[1]?.shape ?? []
            let g = node.int("group", 1)
            kind += g > 1 ? " depthwise k\(w.count > 2 ? w[2] : 0)" : (w.count > 2 && w[2] == 1 ? " 1x1" : " kxk")
        }
        let key = node.label + " " + (inputs.first??.shape.description ?? "")
        fastest.withLock { t in
            if let old = t[key], old.seconds <= seconds { return }
            t[key] = (kind, seconds)
        }
    }

    /// A table of summed fastest milliseconds per op kind, largest first, and the total.
    static func report() -> String {
        fastest.withLock { t in
            var kinds: [String: (Double, Int)] = [:]
            for v in t.values { kinds[v.kind, default: (0, 0)].0 += v.seconds; kinds[v.kind, default: (0, 0)].1 += 1 }
            let total = kinds.values.reduce(0) { $0 + $1.0 }
            let nodes = ProcessInfo.processInfo.environment["KILN_REFERENCE_PROFILE_NODES"] == "1"
                ? t.sorted { $0.value.seconds > $1.value.seconds }.map { String(format: "  %8.3f ms  %@", $0.value.seconds * 1000, $0.key as NSString) } : []
            return (kinds.sorted { $0.value.0 > $1.value.0 }.map {
                String(format: "%-24@ %9.3f ms %6d nodes", $0.key as NSString, $0.value.0 * 1000, $0.value.1)
            } + [String(format: "%-24@ %9.3f ms (sum of each node's fastest run)", "total" as NSString, total * 1000)] + nodes)
                .joined(separator: "\n")
        }
    }
}
