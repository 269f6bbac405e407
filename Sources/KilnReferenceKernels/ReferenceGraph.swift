import KilnCore
import KilnInference

/// An attribute value of the reference backend's internal IR.
enum RAttribute: Sendable {
    case int(Int64)
    case float(Float)
    case string(String)
    case ints([Int64])
    case floats([Float])
    case strings([String])
    case tensor(RTensor)
}

/// One operation of the reference backend's internal IR; values are slot indices (-1 = omitted input).
struct RNode: Sendable {
    /// The node's name in the source model (for messages).
    var name: String
    /// The ai.onnx op or one of Kiln's own fused ops.
    var op: ReferenceOp
    /// The ai.onnx opset version the op is interpreted with.
    var opset: Int
    /// Input slots; -1 marks an omitted optional input.
    var inputs: [Int]
    /// Output slots; -1 marks an unused optional output.
    var outputs: [Int]
    /// The model's attributes by their ONNX names.
    var attributes: [String: RAttribute]
    /// What the optimizer fused into a convolution (empty for other nodes and before optimizing).
    var fusion = ConvFusion()

    func int(_ key: String, _ fallback: Int) -> Int {
        switch attributes[key] {
        case .int(let v): Int(v)
        case .float(let v): Int(v)
        default: fallback
        }
    }
    func float(_ key: String, _ fallback: Float) -> Float {
        switch attributes[key] {
        case .float(let v): v
        case .int(let v): Float(v)
        default: fallback
        }
    }
    func string(_ key: String, _ fallback: String) -> String {
        if case .string(let v) = attributes[key] { return v }
        return fallback
    }
    func ints(_ key: String) -> [Int]? {
        switch attributes[key] {
        case .ints(let v): v.map { Int($0) }
        case .int(let v): [Int(v)]
        default: nil
        }
    }
    func floats(_ key: String) -> [Float]? {
        switch attributes[key] {
        case .floats(let v): v
        case .float(let v): [v]
        default: nil
        }
    }
    func tensor(_ key: String) -> RTensor? {
        if case .tensor(let v) = attributes[key] { return v }
        return nil
    }
    var label: String { "node \(name.isEmpty ? "<unnamed>" : name) (\(op))" }
}

/// The reference backend's executable graph: topologically sorted nodes over numbered value slots.
package struct RGraph: Sendable {
    /// The name of each value slot.
    var valueNames: [String]
    /// Graph input slots (those without a constant), in model order.
    var inputs: [Int]
    /// Graph output slots, in model order.
    var outputs: [Int]
    /// Descriptors of the graph inputs, parallel to `inputs`.
    var inputDescriptors: [TensorDescriptor]
    /// Descriptors of the graph outputs, parallel to `outputs`.
    var outputDescriptors: [TensorDescriptor]
    /// Constant slots (initializers and folded values).
    var constants: [Int: RTensor]
    /// Nodes in execution order.
    var nodes: [RNode]

    /// Removes the nodes at `indices` (those a pass fused into others or folded away).
    mutating func removeNodes(at indices: Set<Int>) {
        guard !indices.isEmpty else { return }
        nodes = nodes.enumerated().filter { !indices.contains($0.offset) }.map(\.element)
    }

    /// For each node index, the slots whose last reader it is (freed after it runs).
    func lastUses() -> [[Int]] {
        var last: [Int: Int] = [:]
        for (index, node) in nodes.enumerated() {
            for s in node.inputs where s >= 0 { last[s] = index }
        }
        let keep = Set(outputs)
        var result = [[Int]](repeating: [], count: nodes.count)
        for (slot, index) in last where !keep.contains(slot) && constants[slot] == nil {
            result[index].append(slot)
        }
        return result
    }

    /// How many nodes read each slot (graph outputs count as a reader).
    func readerCounts() -> [Int: Int] {
        var counts: [Int: Int] = [:]
        for node in nodes { for s in node.inputs where s >= 0 { counts[s, default: 0] += 1 } }
        for s in outputs { counts[s, default: 0] += 1 }
        return counts
    }
}
