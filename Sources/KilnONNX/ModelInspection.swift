import Foundation
import KilnCore

/// Kiln's pre-flight report on a model: interface, opsets, op histogram, parameters, and which
/// nodes each backend cannot run. `kiln inspect` prints it as text or JSON.
public struct ModelInspection: Sendable, Codable, Equatable {
    /// Decides whether a backend can run `node` of a model importing default-domain opset `opset`.
    public typealias OpSupport = @Sendable (_ node: ONNXNode, _ opset: Int64) -> Bool

    /// One dimension of a shape: a fixed size, a named dynamic axis, or an unnamed dynamic axis.
    public enum Dimension: Sendable, Codable, Equatable, CustomStringConvertible {
        /// A fixed size (JSON: a number).
        case fixed(Int)
        /// A dynamic axis with a symbolic name (JSON: the name).
        case named(String)
        /// A dynamic axis without a name (JSON: null).
        case dynamic

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .dynamic }
            else if let n = try? c.decode(Int.self) { self = .fixed(n) }
            else { self = .named(try c.decode(String.self)) }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .fixed(let n): try c.encode(n)
            case .named(let s): try c.encode(s)
            case .dynamic: try c.encodeNil()
            }
        }

        public var description: String {
            switch self {
            case .fixed(let n): "\(n)"
            case .named(let s): s
            case .dynamic: "?"
            }
        }
    }

    /// A graph input or output.
    public struct Value: Sendable, Codable, Equatable {
        /// The value's name.
        public var name: String
        /// Its element type (`float32`…), or a non-tensor type in words (`sequence<map<int64, float32>>`).
        public var type: String
        /// Its shape; nil when the rank is unknown or the value is not a tensor.
        public var shape: [Dimension]?
    }

    /// One operator set the model imports.
    public struct Opset: Sendable, Codable, Equatable {
        /// The domain (`ai.onnx` for the default domain).
        public var domain: String
        /// The imported version.
        public var version: Int64
    }

    /// Totals over the model's initializers.
    public struct Parameters: Sendable, Codable, Equatable {
        /// Elements over all initializers.
        public var count: Int
        /// Bytes of their data.
        public var bytes: Int
        /// Number of initializers.
        public var initializers: Int
        /// Initializers per element type (`float32` → 52).
        public var types: [String: Int]
    }

    /// A node a backend cannot run.
    public struct UnsupportedNode: Sendable, Codable, Equatable {
        /// Its operator (with its domain when not the default, `com.microsoft.FusedConv`).
        public var op: String
        /// Its name, or `#index` when unnamed.
        public var node: String
    }

    /// One backend's verdict.
    public struct Support: Sendable, Codable, Equatable {
        /// Every node the backend cannot run, in graph order; empty when it can run them all.
        public var unsupported: [UnsupportedNode]
    }

    /// `ir_version`.
    public var irVersion: Int64
    /// Imported operator sets, sorted by domain.
    public var opsets: [Opset]
    /// The producer and its version.
    public var producer: String
    /// Graph name.
    public var graph: String
    /// Inputs a caller must feed (initializers excluded).
    public var inputs: [Value]
    /// Outputs.
    public var outputs: [Value]
    /// Nodes in the main graph.
    public var nodes: Int
    /// Nodes inside subgraphs (If/Loop/Scan bodies), at any depth.
    public var subgraphNodes: Int
    /// Nodes per operator type in the main graph (domain-qualified outside the default domain).
    public var ops: [String: Int]
    /// Initializer totals.
    public var parameters: Parameters
    /// `metadata_props`.
    public var metadata: [String: String]
    /// Per-backend support, keyed by backend name.
    public var support: [String: Support]

    /// Inspects `model`, asking each of `backends` about every node of the main graph.
    public init(model: ONNXModel, backends: [String: OpSupport]) {
        irVersion = model.irVersion
        opsets = model.opsetImports.keys.sorted().map { Opset(domain: $0.isEmpty ? "ai.onnx" : $0, version: model.opsetImports[$0]!) }
        producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        graph = model.graph.name
        inputs = model.graph.runtimeInputs.map(Self.value)
        outputs = model.graph.outputs.map(Self.value)
        nodes = model.graph.nodes.count
        var ops: [String: Int] = [:]
        for node in model.graph.nodes { ops[Self.opName(node), default: 0] += 1 }
        var allNodes = 0
        var parameters = Parameters(count: 0, bytes: 0, initializers: 0, types: [:])
        Self.walk(model.graph) { graph in
            allNodes += graph.nodes.count
            for initializer in graph.initializers {
                let t = initializer.tensor
                parameters.count += t.elementCount
                parameters.bytes += t.elementType == .string ? t.strings.reduce(0) { $0 + $1.utf8.count } : t.bytes.count
                parameters.initializers += 1
                parameters.types[t.elementType.description, default: 0] += 1
            }
        }
        self.ops = ops
        subgraphNodes = allNodes - nodes
        self.parameters = parameters
        metadata = model.metadata
        let opset = model.opset()
        var support: [String: Support] = [:]
        for (backend, supports) in backends {
            var unsupported: [UnsupportedNode] = []
            for (index, node) in model.graph.nodes.enumerated() where !supports(node, opset) {
                unsupported.append(UnsupportedNode(op: Self.opName(node), node: node.name.isEmpty ? "#\(index)" : node.name))
            }
            support[backend] = Support(unsupported: unsupported)
        }
        self.support = support
    }

    /// Calls `visit` on `graph` and every subgraph nested in its nodes' attributes.
    static func walk(_ graph: ONNXGraph, _ visit: (ONNXGraph) -> Void) {
        visit(graph)
        for node in graph.nodes {
            for value in node.attributes.values {
                switch value {
                case .graph(let g): walk(g, visit)
                case .graphs(let gs): for g in gs { walk(g, visit) }
                default: break
                }
            }
        }
    }

    static func opName(_ node: ONNXNode) -> String {
        node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain).\(node.opType)"
    }

    static func value(_ info: ONNXValueInfo) -> Value {
        guard let d = info.descriptor else {
            return Value(name: info.name, type: info.typeDescription, shape: nil)
        }
        let shape: [Dimension] = d.shape.enumerated().map { i, dim in
            if let dim { return .fixed(dim) }
            if i < d.dimensionNames.count, let name = d.dimensionNames[i] { return .named(name) }
            return .dynamic
        }
        return Value(name: info.name, type: d.elementType.description, shape: shape)
    }

    /// A support check for backends that implement a fixed set of default-domain operators,
    /// from default-domain opset `minimumOpset` on.
    public static func supporting(_ ops: Set<String>, minimumOpset: Int64 = 1) -> OpSupport {
        { node, opset in
            (node.domain.isEmpty || node.domain == "ai.onnx") && opset >= minimumOpset && ops.contains(node.opType)
        }
    }

    /// The operators issue 3 requires of the reference backend (opset 9 and newer). The CLI uses
    /// the backend's own list when one is available; this is the contract it is held to.
    public static let referenceBackendOps: Set<String> = [
        "Conv", "ConvTranspose", "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf",
        "Clip", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "MatMul", "Gemm", "MaxPool", "AveragePool",
        "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "Flatten", "Reshape", "Transpose", "Concat",
        "Split", "Slice", "Resize", "Upsample", "Softmax", "Pad", "Squeeze", "Unsqueeze", "Shape", "Gather",
        "Constant", "ConstantOfShape", "Identity", "ReduceMean", "Cast", "Where", "Equal", "Range", "Expand",
        "Dropout",
    ]
}
