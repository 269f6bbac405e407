import KilnCore

/// Builds ONNX graphs and models in code: inputs, initializers, nodes with generated names.
///
/// ```swift
/// var b = ONNXGraphBuilder(name: "tiny")
/// let x = b.input("x", .float32, [nil, 3, 32, 32], names: ["batch", nil, nil, nil])
/// let w = b.initializer("w", Tensor(shape: [8, 3, 3, 3], floats: weights))
/// let y = b.node("Conv", [x, w], attributes: ["pads": .ints([1, 1, 1, 1])])
/// b.output(b.node("Relu", [y]), .float32, [nil, 8, 32, 32])
/// let bytes = ONNXWriter.serialize(b.model(opset: 17))
/// ```
public struct ONNXGraphBuilder: Sendable {
    /// The graph built so far.
    public private(set) var graph: ONNXGraph
    private var counters: [String: Int] = [:]

    /// Starts an empty graph called `name`.
    public init(name: String) {
        graph = ONNXGraph(name: name)
    }

    /// Adds a graph input; returns its name.
    @discardableResult
    public mutating func input(_ name: String, _ elementType: ElementType, _ shape: [Int?], names: [String?]? = nil) -> String {
        graph.inputs.append(.tensor(name, elementType, shape, names: names))
        return name
    }

    /// Marks `name` as a graph output with the given type and shape.
    public mutating func output(_ name: String, _ elementType: ElementType, _ shape: [Int?], names: [String?]? = nil) {
        graph.outputs.append(.tensor(name, elementType, shape, names: names))
    }

    /// Adds a constant tensor (weights); returns its name.
    @discardableResult
    public mutating func initializer(_ name: String, _ tensor: Tensor) -> String {
        graph.initializers.append(ONNXTensor(name: name, tensor: tensor))
        return name
    }

    /// Adds a float32 initializer from values; returns its name.
    @discardableResult
    public mutating func initializer(_ name: String, shape: [Int], floats: [Float]) -> String {
        initializer(name, Tensor(shape: shape, floats: floats))
    }

    /// Adds an int64 initializer from values (shapes, axes); returns its name.
    @discardableResult
    public mutating func initializer(_ name: String, shape: [Int], int64s: [Int64]) -> String {
        initializer(name, Tensor(elementType: .int64, shape: shape, bytes: littleEndianBytes(int64s)))
    }

    /// Adds a node with `outputCount` outputs and returns their names.
    ///
    /// The node is named `name` or `<optype><n>`; outputs are `outputs` or `<nodename>_out<i>`.
    @discardableResult
    public mutating func nodes(_ opType: String, _ inputs: [String], outputCount: Int, outputs: [String]? = nil,
                               name: String? = nil, domain: String = "",
                               attributes: [String: ONNXAttribute] = [:]) -> [String] {
        let nodeName = name ?? generatedName(opType)
        let outputNames = outputs ?? (0..<outputCount).map { outputCount == 1 ? "\(nodeName)_out" : "\(nodeName)_out\($0)" }
        graph.nodes.append(ONNXNode(name: nodeName, opType: opType, domain: domain, inputs: inputs, outputs: outputNames,
                                    attributes: attributes))
        return outputNames
    }

    /// Adds a single-output node and returns the output's name.
    @discardableResult
    public mutating func node(_ opType: String, _ inputs: [String], output: String? = nil, name: String? = nil,
                              domain: String = "", attributes: [String: ONNXAttribute] = [:]) -> String {
        nodes(opType, inputs, outputCount: 1, outputs: output.map { [$0] }, name: name, domain: domain,
              attributes: attributes)[0]
    }

    /// The graph wrapped in a model importing the default domain at `opset`.
    ///
    /// `irVersion` defaults to the IR version that introduced `opset` (opset 17 → IR 8, 21 → IR 10).
    public func model(opset: Int64 = 17, irVersion: Int64? = nil, producerName: String = "kiln",
                      producerVersion: String = "", metadata: [String: String] = [:]) -> ONNXModel {
        ONNXModel(irVersion: irVersion ?? Self.irVersion(forOpset: opset), opsetImports: ["": opset],
                  producerName: producerName, producerVersion: producerVersion, metadata: metadata, graph: graph)
    }

    /// The lowest IR version that allows default-domain opset `opset`.
    public static func irVersion(forOpset opset: Int64) -> Int64 {
        switch opset {
        case ...8: 3
        case 9: 4
        case 10: 5
        case 11: 6
        case 12...14: 7
        case 15...18: 8
        case 19...20: 9
        case 21...22: 10
        default: 11
        }
    }

    private mutating func generatedName(_ opType: String) -> String {
        let base = opType.lowercased()
        let n = counters[base, default: 0]
        counters[base] = n + 1
        return "\(base)\(n)"
    }
}
