import Foundation

/// A username and password for one registry. Never printed: `description` hides the secret.
public struct RegistryCredentials: Sendable, Equatable, CustomStringConvertible {
    /// The user name.
    public var username: String
    /// The password or token.
    public var password: String

    /// `user ***`; the password never appears in logs or errors.
    public var description: String { "\(username) ***" }

    /// The `Authorization: Basic …` value.
    var basicHeader: String { "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() }
}

/// Credentials by registry host, from a containers/Docker auth file (`{"auths": {HOST: {"auth": base64(user:pass)}}}`).
///
/// Lookup order (first that exists): `--auth-file`, `REGISTRY_AUTH_FILE`,
/// `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`.
public struct AuthFile: Sendable {
    /// Credentials keyed by host (`registry.example.com`, `127.0.0.1:5000`).
    public var entries: [String: RegistryCredentials]
    /// The file they came from, for messages; nil when none was found.
    public var path: String?

    /// An empty store (anonymous access everywhere).
    public init(entries: [String: RegistryCredentials] = [:], path: String? = nil) {
        self.entries = entries
        self.path = path
    }

    /// Loads the first auth file in the lookup order; an explicit `explicitPath` must exist.
    public static func load(explicitPath: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AuthFile {
        if let explicitPath {
            guard FileManager.default.fileExists(atPath: explicitPath) else {
                throw RegistryError(.io, "--auth-file \(explicitPath) does not exist; create it with `{\"auths\": {\"HOST\": {\"auth\": \"base64(user:password)\"}}}`")
            }
            return try parse(path: explicitPath)
        }
        var candidates: [String] = []
        if let p = environment["REGISTRY_AUTH_FILE"], !p.isEmpty { candidates.append(p) }
        if let d = environment["DOCKER_CONFIG"], !d.isEmpty { candidates.append(d + "/config.json") }
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        candidates.append(home + "/.docker/config.json")
        for c in candidates where FileManager.default.fileExists(atPath: c) {
            return try parse(path: c)
        }
        return AuthFile()
    }

    /// Parses one auth file.
    public static func parse(path: String) throws -> AuthFile {
        struct File: Decodable {
            struct Entry: Decodable {
                var auth: String?
                var username: String?
                var password: String?
            }
            var auths: [String: Entry]?
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RegistryError(.io, "auth file \(path) cannot be read")
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw RegistryError(.io, "auth file \(path) is not valid JSON in the `auths` format")
        }
        var entries: [String: RegistryCredentials] = [:]
        for (key, entry) in file.auths ?? [:] {
            var host = key
            for scheme in ["https://", "http://"] where host.hasPrefix(scheme) { host.removeFirst(scheme.count) }
            if let slash = host.firstIndex(of: "/") { host = String(host[..<slash]) }
            if let auth = entry.auth, !auth.isEmpty {
                guard let decoded = Data(base64Encoded: auth).map({ String(decoding: $0, as: UTF8.self) }),
                      let colon = decoded.firstIndex(of: ":") else {
                    throw RegistryError(.io, "auth file \(path): the `auth` of \(key) is not base64(user:password)")
                }
                entries[host] = RegistryCredentials(username: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...]))
            } else if let u = entry.username, let p = entry.password {
                entries[host] = RegistryCredentials(username: u, password: p)
            }
        }
        return AuthFile(entries: entries, path: path)
    }

    /// The credentials for `host`, trying `docker.io` aliases for Docker Hub.
    public func credentials(for host: String) -> RegistryCredentials? {
        if let c = entries[host] { return c }
        if host == "registry-1.docker.io" || host == "docker.io" { return entries["index.docker.io"] ?? entries["docker.io"] }
        return nil
    }
}

/// A parsed `WWW-Authenticate` challenge.
struct AuthChallenge: Equatable {
    /// `basic` or `bearer` (lower-cased).
    var scheme: String
    /// Parameters (`realm`, `service`, `scope`, `error`).
    var parameters: [String: String]

    /// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
    static func parse(_ header: String) -> AuthChallenge? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else {
            return trimmed.isEmpty ? nil : AuthChallenge(scheme: trimmed.lowercased(), parameters: [:])
        }
        let scheme = trimmed[..<space].lowercased()
        var params: [String: String] = [:]
        var rest = Substring(trimmed[trimmed.index(after: space)...])
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let eq = rest.firstIndex(of: "=") else { break }
            let key = rest[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if c == "\\", let n = rest.first { value.append(n); rest = rest.dropFirst(); continue }
                    if c == "\"" { break }
                    value.append(c)
                }
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[..<end].trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            params[key] = value
        }
        return AuthChallenge(scheme: scheme, parameters: params)
    }
}
