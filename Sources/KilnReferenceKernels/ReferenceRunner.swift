import KilnCore
import KilnInference
import Synchronization

/// A loaded reference engine: validates inputs against the engine's descriptors and runs the graph.
public final class ReferenceRunner: InferenceRunner {
    private let graph: RGraph
    private let threads: Int
    private let freeing: [[Int]]

    public let inputs: [TensorDescriptor]
    public let outputs: [TensorDescriptor]

    package init(graph: RGraph, threads: Int) {
        self.graph = graph
        self.threads = max(1, threads)
        self.freeing = graph.lastUses()
        self.inputs = graph.inputDescriptors
        self.outputs = graph.outputDescriptors
    }

    /// Per-op timings collected while profiling is on (empty otherwise): per op kind, then the
    /// `slowestNodes` nodes with the largest mean time.
    public static func profileReport(slowestNodes: Int = 0) -> String { ReferenceProfile.report(slowestNodes: slowestNodes) }

    /// Turns per-op timing on or off for every reference engine in the process (`kiln run --profile-ops`).
    public static func setProfiling(_ on: Bool) { ReferenceProfile.enabled.store(on, ordering: .relaxed) }

    /// The collected timings per op kind, largest first: the sum of each node's fastest run.
    public static func profileByKind() -> [(kind: String, milliseconds: Double)] { ReferenceProfile.byKind() }

    /// Forgets the timings collected so far (a benchmark calls it once the engine is built, so
    /// the build's own shape-inference runs are not counted).
    public static func resetProfile() { ReferenceProfile.nodes.withLock { $0.removeAll() } }

    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        var values: [Int: RTensor] = [:]
        for (slot, d) in zip(graph.inputs, graph.inputDescriptors) {
            guard let t = feeds[d.name] else {
                throw InvalidModelError("input \(d.name) is missing; the engine takes \(inputs.map(\.name).joined(separator: ", "))")
            }
            guard t.shape.count == d.shape.count, zip(t.shape, d.shape).allSatisfy({ $1 == nil || $0 == $1 }) else {
                throw InvalidModelError("input \(d.name): shape \(t.shape) does not match the engine's \(d.shape.map { $0.map(String.init) ?? "?" })")
            }
            var r = try RTensor(t, name: "input \(d.name)")
            if r.type != d.elementType {
                guard r.isFloat && d.elementType.isFloatKind else {
                    throw InvalidModelError("input \(d.name): element type \(t.elementType), the engine takes \(d.elementType)")
                }
                r.type = d.elementType
            }
            values[slot] = r
        }
        let results = try graph.execute(values, threads: threads, freeing: freeing)
        var out: [String: Tensor] = [:]
        for (d, r) in zip(graph.outputDescriptors, results) {
            var v = r
            if v.type != d.elementType && v.isFloat && d.elementType.isFloatKind {
                v.type = d.elementType
                v.f = v.f.map { d.elementType.round($0) }
            }
            out[d.name] = v.tensor()
        }
        return out
    }
}
