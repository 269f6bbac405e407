import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnONNX

/// `kiln inspect MODEL [--json]`: explains a model before any build starts.
struct InspectCommand: Command {
    static let name = "inspect"
    static let summary = "Show a model's inputs, outputs, ops, parameters and backend support"
    static let help = """
        Usage: kiln inspect MODEL [--json]

        Reads an ONNX model and reports its inputs and outputs (dynamic axes by name, `?` when
        unnamed), IR version and opsets, op histogram, parameter count and bytes, initializer
        types, and for each backend the nodes it cannot run ("reference: unsupported Foo at node n12").

          --json   print the report as JSON; unsupported nodes are at support.<backend>.unsupported
                   as [{"op": …, "node": …}], empty when the backend runs every node

        Examples:
          kiln inspect model.onnx
          kiln inspect model.onnx --json | jq '.support.reference.unsupported'

        \(Kiln.exitCodes) An unreadable or malformed model exits 3.
        """

    /// The backends whose support `inspect` reports, by name, each asked node by node.
    ///
    /// Add `tensorrt` here once its backend can answer per node.
    static var backends: [String: ModelInspection.OpSupport] {
        ["reference": { node, opset in ReferenceBackend.supports(node, opset: opset) }]
    }

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        let json = arguments.flag("--json")
        let path = try arguments.required("MODEL (an .onnx file)")
        try arguments.finish()
        let url = URL(fileURLWithPath: path)
        let model = try ONNXReader.model(contentsOf: url)
        try model.checkLimits(name: path, budget: .machine)
        let report = ModelInspection(model: model, backends: backends)
        if json {
            print(report.json())
        } else {
            print(report.text(title: "Model: \(path)"))
        }
        return .ok
    }
}
