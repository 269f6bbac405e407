import Foundation
import KilnCore

extension ModelInspection {
    /// The report as pretty-printed JSON with sorted keys.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain structs of strings and numbers cannot fail.
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// The report as human-readable text, one fact per line.
    public func text(title: String) -> String {
        var lines: [String] = []
        lines.append("\(title)")
        let opsetText = opsets.map { "\($0.domain) \($0.version)" }.joined(separator: ", ")
        lines.append("  IR version \(irVersion), opsets: \(opsetText.isEmpty ? "none" : opsetText)")
        if !producer.isEmpty { lines.append("  producer: \(producer)") }
        if !graph.isEmpty { lines.append("  graph: \(graph)") }
        for key in metadata.keys.sorted() { lines.append("  metadata \(key): \(metadata[key]!.replacingOccurrences(of: "\n", with: "\\n"))") }
        lines.append("Inputs:")
        for v in inputs { lines.append("  \(Self.describe(v))") }
        lines.append("Outputs:")
        for v in outputs { lines.append("  \(Self.describe(v))") }
        let histogram = ops.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("Nodes: \(nodes)\(subgraphNodes > 0 ? " (plus \(subgraphNodes) in subgraphs)" : "")")
        lines.append("  ops: \(histogram)")
        let types = parameters.types.keys.sorted().map { "\($0) \(parameters.types[$0]!)" }.joined(separator: ", ")
        lines.append("Parameters: \(parameters.count) (\(Self.byteText(parameters.bytes))) in \(parameters.initializers) initializers\(types.isEmpty ? "" : ": \(types)")")
        lines.append("Support:")
        for backend in support.keys.sorted() {
            let unsupported = support[backend]!.unsupported
            if unsupported.isEmpty {
                lines.append("  \(backend): all \(nodes) nodes supported")
            } else {
                for u in unsupported { lines.append("  \(backend): unsupported \(u.op) at node \(u.node)") }
            }
        }
        return lines.joined(separator: "\n")
    }

    static func describe(_ v: Value) -> String {
        guard let shape = v.shape else { return "\(v.name): \(v.type)" }
        return "\(v.name): \(v.type) [\(shape.map(\.description).joined(separator: ", "))]"
    }

    static func byteText(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        if bytes < 1024 * 1024 { return String(format: "%.1f KiB", Double(bytes) / 1024) }
        return String(format: "%.1f MiB", Double(bytes) / (1024 * 1024))
    }
}
