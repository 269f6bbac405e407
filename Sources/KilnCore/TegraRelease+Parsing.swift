extension TegraRelease {
    /// Parses `/etc/nv_tegra_release`'s first line:
    /// `# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: …`.
    ///
    /// Returns `nil` when the text does not carry an `R<major>` and a `REVISION:`.
    public init?(parsing text: String) {
        guard let line = text.split(separator: "\n").first(where: { $0.contains("REVISION") }) else { return nil }
        var major: Int?
        var revision: String?
        var board: String?
        for part in line.split(separator: ",") {
            let field = part.trimmingCharacters(in: " #")
            if field.hasPrefix("REVISION:") {
                revision = field.dropFirst("REVISION:".count).trimmingCharacters(in: " ")
            } else if field.hasPrefix("BOARD:") {
                board = field.dropFirst("BOARD:".count).trimmingCharacters(in: " ")
            } else if field.hasPrefix("R"), major == nil {
                major = Int(field.dropFirst().prefix(while: \.isNumber))
            }
        }
        guard let major, let revision, !revision.isEmpty else { return nil }
        self.init(major: major, revision: revision, board: board)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}

extension String {
    /// Trims any of `set`'s characters from both ends (Foundation-free).
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
