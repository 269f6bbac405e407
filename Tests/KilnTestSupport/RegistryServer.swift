import Foundation
import Glibc

/// A real Debian `docker-registry` (distribution 2.8) on 127.0.0.1 with a random port and a
/// temporary storage directory, started for one test and killed at the end.
public final class RegistryServer: @unchecked Sendable {
    /// How clients authenticate.
    public enum Auth {
        case anonymous
        /// htpasswd (bcrypt) with one user.
        case htpasswd(user: String, password: String)
        /// `auth: token` trusting `certificate` for tokens from `realm`.
        case token(realm: String, service: String, issuer: String, certificate: String)
    }

    /// The temporary directory holding config, storage and log.
    public let directory: URL
    /// The port.
    public let port: Int
    /// `127.0.0.1:PORT`.
    public var host: String { "127.0.0.1:\(port)" }
    /// The storage root.
    public var storage: URL { directory.appendingPathComponent("data") }
    private var process: Process?
    private let auth: Auth
    private let tls: (certificate: String, key: String)?

    /// Starts a registry; nil (skip) when `docker-registry` is not installed outside CI.
    /// With `tls`, the registry serves HTTPS with that certificate and key (PEM paths).
    public static func start(_ auth: Auth = .anonymous, tls: (certificate: String, key: String)? = nil) async throws -> RegistryServer? {
        guard try TestEnvironment.tool("docker-registry") != nil else { return nil }
        let server = try RegistryServer(auth: auth, tls: tls)
        try await server.launch()
        return server
    }

    /// Runs `body` with a started registry and a scratch directory (`TestEnvironment.withScratchDirectory`),
    /// stopping the one and removing the other when `body` returns or throws. Without `docker-registry`
    /// outside CI, `body` does not run (the test skips); under CI that throws.
    public static func withScratch(_ auth: Auth = .anonymous, directory prefix: String = "kiln-test",
                                   _ body: (RegistryServer, URL) async throws -> Void) async throws {
        guard let registry = try await start(auth) else { return }
        defer { registry.stop() }
        try await TestEnvironment.withScratchDirectory(prefix) { dir in try await body(registry, dir) }
    }

    private init(auth: Auth, tls: (certificate: String, key: String)?) throws {
        self.auth = auth
        self.tls = tls
        directory = try TestEnvironment.temporaryDirectory("kiln-registry")
        port = try LoopbackServer.freePort()
    }

    private func launch() async throws {
        var authBlock = ""
        switch auth {
        case .anonymous: break
        case .htpasswd(let user, let password):
            let file = directory.appendingPathComponent("htpasswd").path
            let r = try TestEnvironment.run(TestEnvironment.which("htpasswd") ?? "/usr/bin/htpasswd", ["-Bbn", user, password])
            guard r.status == 0 else { throw TestEnvironment.SetupError("htpasswd -B failed: \(r.stderr)") }
            try r.stdout.write(toFile: file, atomically: true, encoding: .utf8)
            authBlock = "auth:\n  htpasswd:\n    realm: kiln-test\n    path: \(file)\n"
        case .token(let realm, let service, let issuer, let certificate):
            authBlock = "auth:\n  token:\n    realm: \(realm)\n    service: \(service)\n    issuer: \(issuer)\n    rootcertbundle: \(certificate)\n"
        }
        let config = """
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: \(storage.path)
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:\(port)
            \(tls.map { "  tls:\n    certificate: \($0.certificate)\n    key: \($0.key)\n" } ?? "")\(authBlock)
            """
        let configPath = directory.appendingPathComponent("config.yml")
        try config.write(to: configPath, atomically: true, encoding: .utf8)
        try start(configPath: configPath.path)
    }

    private func start(configPath: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnvironment.which("docker-registry")!)
        p.arguments = ["serve", configPath]
        let log = FileHandle(forWritingAtPath: directory.appendingPathComponent("registry.log").path)
            ?? { _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("registry.log").path, contents: nil)
                return FileHandle(forWritingAtPath: directory.appendingPathComponent("registry.log").path)! }()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        // Wait for /v2/ to answer (200 anonymous, 401 with auth).
        for _ in 0..<200 {
            if Self.probe(port: port) { return }
            usleep(25_000)
        }
        throw TestEnvironment.SetupError("docker-registry did not start on \(host); log: \(directory.path)/registry.log")
    }

    /// Stops the registry process (an outage); `restart()` brings it back on the same port and storage.
    public func halt() {
        if let p = process, p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
        process = nil
    }

    /// Starts the registry again after `halt()`.
    public func restart() throws {
        try start(configPath: directory.appendingPathComponent("config.yml").path)
    }

    /// Stops the registry and removes its storage.
    public func stop() {
        halt()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The registry's on-disk file for a blob.
    public func blobFile(_ hex: String) -> String {
        storage.path + "/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
    }

    private static func probe(port: Int) -> Bool {
        let fd = LoopbackServer.connect(port: port)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        LoopbackServer.writeAll(fd, Array("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
        var buf = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buf, 64)
        let head = String(decoding: buf.prefix(max(0, n)), as: UTF8.self)
        // Any HTTP answer means it listens (an HTTPS registry answers plain HTTP with a 400).
        return head.hasPrefix("HTTP/1.")
    }
}

extension TestEnvironment {
    /// A fixture (server, tool run) could not be set up.
    public struct SetupError: Error, CustomStringConvertible {
        /// What failed.
        public var description: String
        /// Creates the error.
        public init(_ description: String) { self.description = description }
    }
}
