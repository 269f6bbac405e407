import Foundation
import KilnRegistry
import KilnTestSupport
import Testing

/// HTTPS with a private CA: refused with the system CAs alone, accepted with `--ca-bundle`.
@Suite(.serialized) struct RegistryTLSTests {
    /// A CA and a server certificate for 127.0.0.1 signed by it, made with openssl.
    static func makeCertificates(in dir: URL) throws -> (ca: String, certificate: String, key: String)? {
        guard let openssl = try TestEnvironment.tool("openssl") else { return nil }
        func run(_ args: [String]) throws {
            let r = try TestEnvironment.run(openssl, args)
            guard r.status == 0 else { throw TestEnvironment.SetupError("openssl \(args.first ?? ""): \(r.stderr)") }
        }
        let p = { (name: String) in dir.appendingPathComponent(name).path }
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=kiln-test-ca",
                 "-keyout", p("ca.key"), "-out", p("ca.pem")])
        try run(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", p("server.key"), "-out", p("server.csr")])
        try "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n".write(toFile: p("ext.cnf"), atomically: true, encoding: .utf8)
        try run(["x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-CAcreateserial",
                 "-days", "2", "-out", p("server.pem"), "-extfile", p("ext.cnf")])
        return (p("ca.pem"), p("server.pem"), p("server.key"))
    }

    @Test func privateCARegistryNeedsTheCABundleAndThenWorks() async throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        guard let certs = try Self.makeCertificates(in: dir),
              let registry = try await RegistryServer.start(tls: (certs.certificate, certs.key)) else { return }
        defer { registry.stop() }
        let ref = "\(registry.host)/fleet/tls:v1"
        let model = try Fixtures.modelFile(in: dir, size: 300_000, seed: 30)

        // System CAs only: the handshake fails, and the error names the registry.
        let plain = RegistryClient(configuration: .init(retry: .none))
        do {
            _ = try await plain.resolve(try RegistryReference(parsing: ref))
            Issue.record("a certificate from an unknown CA was accepted")
        } catch let e as RegistryError {
            #expect(e.kind == .transport && e.description.contains(registry.host))
        }

        // With the CA bundle (libcurl): chunked publish, then pull by tag, verified.
        let trusted = RegistryClient(configuration: .init(retry: RetryPolicy(attempts: 2, base: 0.05, cap: 0.1), chunkSize: 100_000,
                                                          caBundle: certs.ca))
        let digest = try await Fixtures.publish(model, to: ref, client: trusted, work: dir)
        let puller = ModelPuller(store: ModelStore(root: dir.appendingPathComponent("store").path), client: trusted)
        #expect(try await puller.currentDigest(of: try ModelReference(parsing: ref)) == digest)
        let pulled = try await puller.pull(try ModelReference(parsing: ref))
        #expect(pulled.digest == digest)
        #expect(try Fixtures.sha256(file: pulled.path) == Fixtures.sha256(file: model))

        // The CLI flag.
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, ["pull", ref, "--json", "--ca-bundle", certs.ca,
                                                                        "--store", dir.appendingPathComponent("store2").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains(digest.description))
    }
}
