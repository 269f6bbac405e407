/// The content address of an engine: sha256 of the model digest, the backend identity and the
/// normalised build options, in a canonical text form.
///
/// Workspace size, timing-cache path, calibration path and thread count are not in the key
/// (`BuildOptions.normalisedKeyFields` leaves them out): they change how a build runs, not which
/// engine is valid.
public struct EngineCacheKey: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// The model's content digest, `sha256:<hex>`.
    public var modelDigest: String
    /// The identity of the backend (and device) the engine is built for.
    public var identity: BackendIdentity
    /// The normalised build options.
    public var options: [String: String]

    /// Creates a key from a model digest (`sha256:<hex>` or bare hex), an identity and the options.
    public init(modelDigest: String, identity: BackendIdentity, options: BuildOptions) {
        self.init(modelDigest: modelDigest, identity: identity, optionFields: options.normalisedKeyFields)
    }

    /// Creates a key from already-normalised option fields.
    public init(modelDigest: String, identity: BackendIdentity, optionFields: [String: String]) {
        self.modelDigest = modelDigest.hasPrefix("sha256:") ? modelDigest.lowercased() : "sha256:" + modelDigest.lowercased()
        self.identity = identity
        self.options = optionFields
    }

    /// The canonical text the digest is taken over: one `name=value` line per field, sorted,
    /// with `\`, newline and `=` in names escaped so no two keys share a text.
    public var canonicalText: String {
        func esc(_ s: String) -> String {
            s.replacingAll("\\", with: "\\\\").replacingAll("\n", with: "\\n").replacingAll("=", with: "\\=")
        }
        var lines = ["kiln-engine-key 1", "model=\(esc(modelDigest))", "backend=\(esc(identity.backend))"]
        lines += identity.fields.keys.sorted().map { "identity.\(esc($0))=\(esc(identity.fields[$0]!))" }
        lines += options.keys.sorted().map { "option.\(esc($0))=\(esc(options[$0]!))" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The key: lower-case hex sha256 of `canonicalText` (64 characters); the entry's file name.
    public var digest: String { SHA256.hex(canonicalText) }

    /// The digest.
    public var description: String { digest }
}

extension String {
    /// Replaces every occurrence of `target` (Foundation-free, for the canonical key text).
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        out.reserveCapacity(count)
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
