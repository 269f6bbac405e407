/// Class names a model carries in its ONNX metadata.
public enum ModelLabels {
    /// The names of an Ultralytics export: metadata `names`, a Python dict literal such as
    /// `{0: 'person', 1: 'bicycle'}`. Nil when absent or not in that form (ids must be 0…n−1).
    public static func ultralytics(_ metadata: [String: String]) -> [String]? {
        guard let text = metadata["names"] else { return nil }
        var names: [Int: String] = [:]
        var i = text.startIndex
        func skipSpaces() { while i < text.endIndex, text[i] == " " || text[i] == "\n" || text[i] == "," { i = text.index(after: i) } }
        guard text.first == "{" else { return nil }
        i = text.index(after: i)
        while true {
            skipSpaces()
            guard i < text.endIndex else { return nil }
            if text[i] == "}" { break }
            var digits = ""
            while i < text.endIndex, text[i].isNumber { digits.append(text[i]); i = text.index(after: i) }
            skipSpaces()
            guard let id = Int(digits), i < text.endIndex, text[i] == ":" else { return nil }
            i = text.index(after: i)
            skipSpaces()
            guard i < text.endIndex, text[i] == "'" || text[i] == "\"" else { return nil }
            let quote = text[i]
            i = text.index(after: i)
            var name = ""
            while i < text.endIndex, text[i] != quote {
                if text[i] == "\\" { i = text.index(after: i); guard i < text.endIndex else { return nil } }
                name.append(text[i])
                i = text.index(after: i)
            }
            guard i < text.endIndex else { return nil }
            i = text.index(after: i)
            names[id] = name
        }
        guard !names.isEmpty, names.count <= 100_000, Set(names.keys) == Set(0..<names.count) else { return nil }
        return (0..<names.count).map { names[$0]! }
    }
}
