import Foundation

/// Where a model comes from: an OCI image layout on disk, an OCI distribution registry, or a
/// plain ONNX file.
///
/// Spellings (skopeo's for layouts):
/// - `oci:PATH:TAG`, `oci:PATH@sha256:…`, `oci:PATH` (tag `latest`)
/// - `HOST[:PORT]/REPO[:TAG]`, `HOST[:PORT]/REPO@sha256:…` (the host must contain a `.` or a
///   `:` or be `localhost`; there is no implicit Docker Hub)
/// - `PATH.onnx` or any existing file path
public enum ModelReference: Sendable, Hashable, CustomStringConvertible {
    /// An OCI image layout directory and a tag or digest inside it.
    case layout(path: String, tag: String?, digest: Digest?)
    /// A repository on an OCI distribution registry.
    case registry(RegistryReference)
    /// A plain ONNX file.
    case file(path: String)

    /// Parses a reference; throws `invalidReference` naming the text and the accepted forms.
    public init(parsing text: String) throws {
        if text.hasPrefix("oci:") {
            var rest = String(text.dropFirst(4))
            var digest: Digest?
            var tag: String?
            if let at = rest.lastIndex(of: "@") {
                digest = try Digest(parsing: String(rest[rest.index(after: at)...]))
                rest = String(rest[..<at])
            } else if let colon = rest.lastIndex(of: ":"), !rest[rest.index(after: colon)...].contains("/") {
                tag = String(rest[rest.index(after: colon)...])
                rest = String(rest[..<colon])
            }
            guard !rest.isEmpty else {
                throw RegistryError(.invalidReference, "reference \(text): missing the layout directory; write oci:PATH:TAG or oci:PATH@sha256:…")
            }
            if let tag { try RegistryReference.validateTag(tag, in: text) }
            self = .layout(path: rest, tag: digest == nil ? (tag ?? "latest") : tag, digest: digest)
            return
        }
        if text.hasSuffix(".onnx") || text.hasPrefix("/") || text.hasPrefix("./") || text.hasPrefix("../")
            || text.hasPrefix("~") {
            self = .file(path: (text as NSString).expandingTildeInPath)
            return
        }
        self = .registry(try RegistryReference(parsing: text))
    }

    /// The canonical text of the reference.
    public var description: String {
        switch self {
        case .layout(let path, let tag, let digest):
            if let digest { return "oci:\(path)@\(digest)" }
            return "oci:\(path):\(tag ?? "latest")"
        case .registry(let r): return r.description
        case .file(let path): return path
        }
    }
}

/// `HOST[:PORT]/REPOSITORY[:TAG][@sha256:…]` on an OCI distribution registry.
public struct RegistryReference: Sendable, Hashable, CustomStringConvertible {
    /// The registry host with its port, as written (`registry.example.com`, `127.0.0.1:5000`).
    public var host: String
    /// The repository path (`fleet/detector`).
    public var repository: String
    /// The tag, if any (`latest` when neither tag nor digest is given).
    public var tag: String?
    /// The digest, if pinned.
    public var digest: Digest?

    /// Creates a reference from its parts.
    public init(host: String, repository: String, tag: String?, digest: Digest?) {
        self.host = host
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// Parses the text; throws `invalidReference` naming it.
    public init(parsing text: String) throws {
        var rest = text
        for scheme in ["docker://", "https://", "http://"] where rest.hasPrefix(scheme) { rest.removeFirst(scheme.count) }
        var digest: Digest?
        if let at = rest.lastIndex(of: "@") {
            digest = try Digest(parsing: String(rest[rest.index(after: at)...]))
            rest = String(rest[..<at])
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw RegistryError(.invalidReference, "reference \(text): expected HOST[:PORT]/REPOSITORY[:TAG], oci:PATH:TAG or a .onnx file")
        }
        let host = String(rest[..<slash])
        guard host.contains(".") || host.contains(":") || host == "localhost" else {
            throw RegistryError(.invalidReference, "reference \(text): `\(host)` is not a registry host; name it in full (e.g. registry.example.com/\(rest[rest.index(after: slash)...]))")
        }
        var path = String(rest[rest.index(after: slash)...])
        var tag: String?
        if let colon = path.lastIndex(of: ":") {
            tag = String(path[path.index(after: colon)...])
            path = String(path[..<colon])
            try Self.validateTag(tag!, in: text)
        }
        let component = #"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$"#
        guard path.range(of: component, options: .regularExpression) != nil else {
            throw RegistryError(.invalidReference, "reference \(text): repository `\(path)` must be lower-case letters, digits and . _ - separated by /")
        }
        self.init(host: host, repository: path, tag: digest == nil ? (tag ?? "latest") : tag, digest: digest)
    }

    static func validateTag(_ tag: String, in text: String) throws {
        guard tag.range(of: #"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"#, options: .regularExpression) != nil else {
            throw RegistryError(.invalidReference, "reference \(text): tag `\(tag)` must be 1–128 of A-Z a-z 0-9 _ . - and not start with . or -")
        }
    }

    /// The digest if pinned, else the tag: what goes in `/v2/REPO/manifests/<here>`.
    public var manifestReference: String { digest?.description ?? tag ?? "latest" }

    /// The same repository at another tag or digest.
    public func with(tag: String?, digest: Digest?) -> RegistryReference {
        RegistryReference(host: host, repository: repository, tag: tag, digest: digest)
    }

    public var description: String {
        var s = "\(host)/\(repository)"
        if let tag { s += ":\(tag)" }
        if let digest { s += "@\(digest)" }
        return s
    }
}
