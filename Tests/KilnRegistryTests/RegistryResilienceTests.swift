import Foundation
import KilnRegistry
import KilnTestSupport
import Testing

/// Interrupted downloads, corrupted blobs and bad credentials against a real registry.
@Suite(.serialized) struct RegistryResilienceTests {
    @Test func downloadCutMidTransferResumesWithRangeAndVerifies() async throws {
        try await RegistryServer.withScratch { registry, dir in
            let model = try Fixtures.modelFile(in: dir, size: 1_500_000, seed: 5)
            let modelDigest = try Fixtures.sha256(file: model)
            _ = try await Fixtures.publish(model, to: "\(registry.host)/fleet/cut:v1", client: Fixtures.client(registry), work: dir)
            // Every connection that fetches the model blob is cut after 400 kB, twice.
            let proxy = try CuttingProxy(targetPort: registry.port, blobDigest: modelDigest, cutAfter: 400_000, cuts: 2)
            defer { proxy.stop() }
            let client = RegistryClient(configuration: .init(insecureHosts: [proxy.host], retry: RetryPolicy(attempts: 4, base: 0.05, cap: 0.2)))
            let puller = ModelPuller(store: ModelStore(root: dir.appendingPathComponent("store").path), client: client)
            let pulled = try await puller.pull(try ModelReference(parsing: "\(proxy.host)/fleet/cut:v1"))
            #expect(try Fixtures.sha256(file: pulled.path) == modelDigest)
            let blobGets = proxy.requests.withLock { $0 }.filter { $0.hasPrefix("GET ") && $0.contains(modelDigest) }
            #expect(blobGets.count == 3)
            let ranges = blobGets.compactMap { head in head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("range:") } }
            #expect(ranges.count == 2, "resumed requests carry Range: \(blobGets)")
            #expect(!FileManager.default.fileExists(atPath: pulled.path + ".partial"))
        }
    }

    @Test func partialFileFromAnEarlierRunIsResumedNotRefetched() async throws {
        try await RegistryServer.withScratch { registry, dir in
            let model = try Fixtures.modelFile(in: dir, size: 600_000, seed: 6)
            let digest = try FileDigest.of(path: model).digest
            _ = try await Fixtures.publish(model, to: "\(registry.host)/fleet/partial:v1", client: Fixtures.client(registry), work: dir)
            let store = ModelStore(root: dir.appendingPathComponent("store").path)
            try store.layout.ensureLayout()
            let bytes = try Data(contentsOf: URL(fileURLWithPath: model))
            try bytes.prefix(250_000).write(to: URL(fileURLWithPath: store.partialPath(digest)))
            let proxy = try CuttingProxy(targetPort: registry.port, blobDigest: digest.description, cutAfter: 0, cuts: 0)
            defer { proxy.stop() }
            let client = RegistryClient(configuration: .init(insecureHosts: [proxy.host]))
            let pulled = try await ModelPuller(store: store, client: client).pull(try ModelReference(parsing: "\(proxy.host)/fleet/partial:v1"))
            #expect(try Fixtures.sha256(file: pulled.path) == digest.description)
            let gets = proxy.requests.withLock { $0 }.filter { $0.hasPrefix("GET ") && $0.contains(digest.description) }
            #expect(gets.count == 1)
            #expect(gets.first?.lowercased().contains("range: bytes=250000-") == true)
        }
    }

    @Test func tamperedBlobIsRejectedDeletedAndTheStoreIsUnchanged() async throws {
        try await RegistryServer.withScratch { registry, dir in
            let client = Fixtures.client(registry)
            let good = try Fixtures.modelFile(in: dir, name: "a.onnx", size: 100_000, seed: 7)
            let bad = try Fixtures.modelFile(in: dir, name: "b.onnx", size: 100_000, seed: 8)
            _ = try await Fixtures.publish(good, to: "\(registry.host)/fleet/t:v1", client: client, work: dir)
            _ = try await Fixtures.publish(bad, to: "\(registry.host)/fleet/t:v2", client: client, work: dir)
            let store = ModelStore(root: dir.appendingPathComponent("store").path)
            let puller = ModelPuller(store: store, client: client)
            let first = try await puller.pull(try ModelReference(parsing: "\(registry.host)/fleet/t:v1"))
            let indexBefore = try Data(contentsOf: URL(fileURLWithPath: store.layout.root + "/index.json"))

            // Flip bytes in the registry's own copy of v2's model blob (same size).
            let badDigest = try FileDigest.of(path: bad).digest
            let blob = registry.blobFile(badDigest.hex)
            var tampered = try Data(contentsOf: URL(fileURLWithPath: blob))
            tampered[5000] ^= 0xFF
            try tampered.write(to: URL(fileURLWithPath: blob))

            do {
                _ = try await puller.pull(try ModelReference(parsing: "\(registry.host)/fleet/t:v2"))
                Issue.record("a tampered blob was accepted")
            } catch let error as RegistryError {
                #expect(error.kind == .digestMismatch)
                #expect(error.description.contains(badDigest.description))
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: store.layout.root + "/index.json")) == indexBefore)
            #expect(!FileManager.default.fileExists(atPath: store.layout.blobPath(badDigest)))
            #expect(!FileManager.default.fileExists(atPath: store.partialPath(badDigest)))
            #expect(try store.lookup("\(registry.host)/fleet/t:v2") == nil)
            #expect(try Fixtures.sha256(file: first.path) == Fixtures.sha256(file: good))
        }
    }

    @Test func htpasswdRegistryWorksWithThePasswordAndNamesTheRegistryOnAWrongOne() async throws {
        try await RegistryServer.withScratch(.htpasswd(user: "fleet", password: "s3cret-pw")) { registry, dir in
            let model = try Fixtures.modelFile(in: dir, size: 50_000, seed: 9)
            let right = try Fixtures.authFile(in: dir, host: registry.host, user: "fleet", password: "s3cret-pw")
            let digest = try await Fixtures.publish(model, to: "\(registry.host)/fleet/auth:v1", client: Fixtures.client(registry, auth: right), work: dir)
            let store = ModelStore(root: dir.appendingPathComponent("store").path)
            let pulled = try await ModelPuller(store: store, client: Fixtures.client(registry, auth: right))
                .pull(try ModelReference(parsing: "\(registry.host)/fleet/auth:v1"))
            #expect(pulled.digest == digest)

            // Anonymous: says credentials are needed, naming the registry.
            do {
                _ = try await Fixtures.client(registry).resolve(try RegistryReference(parsing: "\(registry.host)/fleet/auth:v1"))
                Issue.record("anonymous access succeeded")
            } catch let e as RegistryError {
                #expect(e.kind == .authenticationRequired)
                #expect(e.description.contains(registry.host))
            }
            // Wrong password, through the CLI: the message says so, names the registry, hides the password.
            let wrongDir = dir.appendingPathComponent("wrong")
            try FileManager.default.createDirectory(at: wrongDir, withIntermediateDirectories: true)
            _ = try Fixtures.authFile(in: wrongDir, host: registry.host, user: "fleet", password: "not-the-password")
            let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
                "pull", "\(registry.host)/fleet/auth:v1", "--auth-file", wrongDir.appendingPathComponent("auth.json").path,
                "--insecure-registry", registry.host, "--store", dir.appendingPathComponent("store2").path,
            ])
            #expect(r.status == 1)
            #expect(r.stderr.contains("registry \(registry.host) rejected the username/password for user fleet"), "\(r.stderr)")
            #expect(!r.stderr.contains("not-the-password"))
        }
    }

    @Test func bearerTokenFlowAgainstAnAuthTokenRegistry() async throws {
        guard let issuer = try TokenIssuer.start(user: "robot", password: "t0ken-pw") else { return }
        defer { issuer.stop() }
        guard let registry = try await RegistryServer.start(.token(realm: issuer.realm, service: issuer.service, issuer: issuer.issuer,
                                                                   certificate: issuer.certificate)) else { return }
        defer { registry.stop() }
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Fixtures.modelFile(in: dir, size: 80_000, seed: 10)
        let auth = try Fixtures.authFile(in: dir, host: registry.host, user: "robot", password: "t0ken-pw")
        let client = Fixtures.client(registry, auth: auth)
        let digest = try await Fixtures.publish(model, to: "\(registry.host)/fleet/tok:v1", client: client, work: dir)
        let pulled = try await ModelPuller(store: ModelStore(root: dir.appendingPathComponent("store").path), client: client)
            .pull(try ModelReference(parsing: "\(registry.host)/fleet/tok:v1"))
        #expect(pulled.digest == digest)
        #expect(try Fixtures.sha256(file: pulled.path) == Fixtures.sha256(file: model))
        // Tokens are cached per scope: one for push, one for pull, not one per request.
        let issued = issuer.issued.load(ordering: .relaxed)
        #expect(issued >= 2 && issued <= 3, "issued \(issued) tokens")

        let wrong = try Fixtures.authFile(in: dir.appendingPathComponent("w").creatingDirectory(), host: registry.host, user: "robot", password: "nope")
        do {
            _ = try await Fixtures.client(registry, auth: wrong).resolve(try RegistryReference(parsing: "\(registry.host)/fleet/tok:v1"))
            Issue.record("wrong password accepted")
        } catch let e as RegistryError {
            #expect(e.kind == .authenticationFailed)
            #expect(e.description.contains(registry.host) && e.description.contains("password"))
        }
    }
}

extension URL {
    func creatingDirectory() throws -> URL {
        try FileManager.default.createDirectory(at: self, withIntermediateDirectories: true)
        return self
    }
}
