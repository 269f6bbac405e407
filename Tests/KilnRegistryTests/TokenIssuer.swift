import Foundation
import Glibc
import KilnTestSupport
import Synchronization

/// A token service for distribution's `auth: token`, written for the tests: checks Basic
/// credentials and issues RS256 JWTs (signed with `openssl dgst -sha256 -sign`) carrying the
/// certificate in `x5c`, which the registry verifies against its `rootcertbundle`.
final class TokenIssuer: @unchecked Sendable {
    let directory: URL
    let user: String
    let password: String
    let service = "kiln-test-registry"
    let issuer = "kiln-test-issuer"
    var certificate: String { directory.appendingPathComponent("cert.pem").path }
    private var key: String { directory.appendingPathComponent("key.pem").path }
    private var server: LoopbackServer?
    private let certificateDER: String
    /// Tokens issued, and requests refused.
    let issued = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    var realm: String { "http://127.0.0.1:\(server!.port)/token" }

    /// Generates a key and self-signed certificate with openssl and starts listening; nil (skip) without openssl.
    static func start(user: String, password: String) throws -> TokenIssuer? {
        guard let openssl = try TestEnvironment.tool("openssl") else { return nil }
        let dir = try TestEnvironment.temporaryDirectory("kiln-token")
        let r = try TestEnvironment.run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                                  "-subj", "/CN=kiln-test-token-issuer",
                                                  "-keyout", dir.appendingPathComponent("key.pem").path,
                                                  "-out", dir.appendingPathComponent("cert.pem").path])
        guard r.status == 0 else { throw TestEnvironment.SetupError("openssl req failed: \(r.stderr)") }
        let der = try TestEnvironment.run(openssl, ["x509", "-in", dir.appendingPathComponent("cert.pem").path, "-outform", "DER",
                                                    "-out", dir.appendingPathComponent("cert.der").path])
        guard der.status == 0, let bytes = FileManager.default.contents(atPath: dir.appendingPathComponent("cert.der").path) else {
            throw TestEnvironment.SetupError("openssl x509 failed: \(der.stderr)")
        }
        let issuer = TokenIssuer(directory: dir, user: user, password: password, certificateDER: bytes.base64EncodedString())
        issuer.server = try LoopbackServer { [issuer] fd in issuer.handle(fd) }
        return issuer
    }

    private init(directory: URL, user: String, password: String, certificateDER: String) {
        self.directory = directory
        self.user = user
        self.password = password
        self.certificateDER = certificateDER
    }

    func stop() {
        server?.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private func handle(_ fd: Int32) {
        defer { close(fd) }
        guard let head = LoopbackServer.readHead(fd) else { return }
        let lines = head.components(separatedBy: "\r\n")
        let target = lines[0].split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        let auth = lines.first { $0.lowercased().hasPrefix("authorization:") }
            .map { String($0.dropFirst("authorization:".count)).trimmingCharacters(in: .whitespaces) }
        let expected = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        guard auth == expected else {
            refused.add(1, ordering: .relaxed)
            respond(fd, status: "401 Unauthorized", body: #"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#)
            return
        }
        let query = URLComponents(string: "http://x" + target)?.queryItems ?? []
        var access: [[String: Any]] = []
        for item in query where item.name == "scope" {
            // repository:NAME:ACTIONS
            let parts = (item.value ?? "").split(separator: ":", maxSplits: 2).map(String.init)
            if parts.count == 3 {
                access.append(["type": parts[0], "name": parts[1], "actions": parts[2].split(separator: ",").map(String.init)])
            }
        }
        guard let token = try? sign(access: access) else {
            respond(fd, status: "500 Internal Server Error", body: "{}")
            return
        }
        issued.add(1, ordering: .relaxed)
        respond(fd, status: "200 OK", body: #"{"token":"\#(token)","expires_in":300}"#)
    }

    private func sign(access: [[String: Any]]) throws -> String {
        let now = Int(Date().timeIntervalSince1970)
        let header: [String: Any] = ["alg": "RS256", "typ": "JWT", "x5c": [certificateDER]]
        let claims: [String: Any] = ["iss": issuer, "sub": user, "aud": service, "exp": now + 300, "nbf": now - 30,
                                     "iat": now, "jti": UUID().uuidString, "access": access]
        let input = Self.b64url(try JSONSerialization.data(withJSONObject: header)) + "." + Self.b64url(try JSONSerialization.data(withJSONObject: claims))
        let inputFile = directory.appendingPathComponent("in-\(UUID().uuidString)")
        try Data(input.utf8).write(to: inputFile)
        defer { try? FileManager.default.removeItem(at: inputFile) }
        let sigFile = inputFile.path + ".sig"
        let r = try TestEnvironment.run(TestEnvironment.which("openssl")!, ["dgst", "-sha256", "-sign", key, "-out", sigFile, inputFile.path])
        defer { try? FileManager.default.removeItem(atPath: sigFile) }
        guard r.status == 0, let sig = FileManager.default.contents(atPath: sigFile) else { throw POSIXError(.EIO) }
        return input + "." + Self.b64url(sig)
    }

    private func respond(_ fd: Int32, status: String, body: String) {
        let response = "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        LoopbackServer.writeAll(fd, Array(response.utf8))
    }

    static func b64url(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
