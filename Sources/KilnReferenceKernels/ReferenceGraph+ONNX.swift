import KilnCore
import KilnInference
import KilnONNX

extension RGraph {
    /// Lowers an ONNX model into the reference IR; refuses unsupported ops, domains, types and subgraphs.
    package init(model: ONNXModel, name: String) throws {
        let opset = Int(model.opset(for: ""))
        try model.checkLimits(name: name, budget: .machine)
        let g = model.graph
        var slots: [String: Int] = [:]
        var names: [String] = []
        func slot(_ n: String) -> Int {
            if let s = slots[n] { return s }
            slots[n] = names.count
            names.append(n)
            return names.count - 1
        }
        var constants: [Int: RTensor] = [:]
        for initializer in g.initializers {
            constants[slot(initializer.name)] = try RTensor(initializer.tensor, name: "\(name): initializer \(initializer.name)")
        }
        var inputs: [Int] = [], inputDescriptors: [TensorDescriptor] = []
        for info in g.inputs where constants[slot(info.name)] == nil {
            guard let d = info.descriptor, d.elementType.isReferenceSupported else {
                let what = info.descriptor.map { "element type \($0.elementType)" } ?? "a non-tensor type (sequence/optional/map)"
                throw InvalidModelError("\(name): input \(info.name) has \(what), which the reference backend does not support")
            }
            inputs.append(slot(info.name))
            inputDescriptors.append(d)
        }
        let unsupported = ReferenceKernels.unsupportedNodes(model)
        if !unsupported.isEmpty {
            let list = unsupported.prefix(8).map { "\($0.opType) at node \($0.node)" }.joined(separator: ", ")
            throw InvalidModelError("\(name): the reference backend does not support \(list); run `kiln inspect` for the full report")
        }
        var nodes: [RNode] = []
        for n in g.nodes {
            var attributes: [String: RAttribute] = [:]
            for (key, value) in n.attributes {
                switch value {
                case .int(let v): attributes[key] = .int(v)
                case .float(let v): attributes[key] = .float(v)
                case .string(let v): attributes[key] = .string(v)
                case .ints(let v): attributes[key] = .ints(v)
                case .floats(let v): attributes[key] = .floats(v)
                case .strings(let v): attributes[key] = .strings(v)
                case .tensor(let t): attributes[key] = .tensor(try RTensor(t.tensor, name: "\(name): attribute \(key) of node \(n.name)"))
                default:
                    throw InvalidModelError("\(name): node \(n.name) (\(n.opType)) has a graph/tensor-list attribute \(key), which the reference backend does not support")
                }
            }
            guard let op = ReferenceOp(onnx: n.opType) else {
                throw InvalidModelError("\(name): the reference backend does not support \(n.opType) at node \(n.name)")
            }
            nodes.append(RNode(name: n.name, op: op, opset: opset, inputs: n.inputs.map { $0.isEmpty ? -1 : slot($0) },
                               outputs: n.outputs.map { $0.isEmpty ? -1 : slot($0) }, attributes: attributes))
        }
        for n in g.nodes where n.opType == "Cast" || n.opType == "ConstantOfShape" {
            if case .int(let to)? = n.attributes["to"], ElementType(rawValue: Int32(truncatingIfNeeded: to))?.isReferenceSupported != true {
                throw InvalidModelError("\(name): node \(n.name) casts to element type \(to), which the reference backend does not support (float8/float4/int4/int2 types are not implemented)")
            }
        }
        var outputs: [Int] = [], outputDescriptors: [TensorDescriptor] = []
        for info in g.outputs {
            if let d = info.descriptor, !d.elementType.isReferenceSupported {
                throw InvalidModelError("\(name): output \(info.name) has element type \(d.elementType), which the reference backend does not support")
            }
            outputs.append(slot(info.name))
            outputDescriptors.append(info.descriptor ?? TensorDescriptor(name: info.name, elementType: .float32, shape: []))
        }
        self.init(valueNames: names, inputs: inputs, outputs: outputs, inputDescriptors: inputDescriptors,
                  outputDescriptors: outputDescriptors, constants: constants, nodes: nodes)
        try topologicallySort(name: name)
    }

    /// Orders nodes so every value is produced before it is read; refuses cycles and undefined values.
    mutating func topologicallySort(name: String) throws {
        var available = Set(inputs).union(constants.keys)
        var remaining = nodes
        var sorted: [RNode] = []
        sorted.reserveCapacity(nodes.count)
        while !remaining.isEmpty {
            var progressed = false
            var rest: [RNode] = []
            for node in remaining {
                if node.inputs.allSatisfy({ $0 < 0 || available.contains($0) }) {
                    sorted.append(node)
                    for o in node.outputs where o >= 0 { available.insert(o) }
                    progressed = true
                } else {
                    rest.append(node)
                }
            }
            remaining = rest
            if !progressed {
                let node = remaining[0]
                let missing = node.inputs.filter { $0 >= 0 && !available.contains($0) }.map { valueNames[$0] }
                throw InvalidModelError("\(name): \(node.label) reads \(missing.joined(separator: ", ")), which nothing produces (or the graph has a cycle)")
            }
        }
        for o in outputs where !available.contains(o) {
            throw InvalidModelError("\(name): graph output \(valueNames[o]) is never produced")
        }
        nodes = sorted
    }
}
