import KilnCore

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
            let outs = try ReferenceKernels.execute(node, ins, threads: threads)
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
