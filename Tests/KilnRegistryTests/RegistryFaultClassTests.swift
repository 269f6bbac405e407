import Foundation
import Glibc
import KilnRegistry
import KilnTestSupport
import Synchronization
import Testing

/// Refusing for the right reason: what is retried, what is final, what a rollout may hold
/// against a digest, and how long a pull may take.
@Suite(.serialized) struct RegistryFaultClassTests {
    @Test func onlyAnUnusableArtifactIsTheModelsFault() {
        #expect(RegistryError(.invalidArtifact, "x").fault == .model)
        for kind: RegistryError.Kind in [.digestMismatch, .sizeMismatch, .transport, .protocolError, .notFound] {
            #expect(RegistryError(kind, "x").fault == .transport, "\(kind)")
        }
        #expect(RegistryError(.diskFull, "x").fault == .local)
        #expect(RegistryError(.io, "x").fault == .local)
    }

    /// A server that answers every request with a redirect to itself, counting requests.
    final class RedirectLoop: @unchecked Sendable {
        let requests = Atomic<Int>(0)
        private(set) var server: LoopbackServer!
        init() throws {
            server = try LoopbackServer { [unowned self] fd in
                defer { close(fd) }
                while let head = LoopbackServer.readHead(fd) {
                    self.requests.add(1, ordering: .relaxed)
                    let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
                    let response = "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:\(self.server.port)\(path)\r\nContent-Length: 0\r\n\r\n"
                    if !LoopbackServer.writeAll(fd, Array(response.utf8)) { return }
                }
            }
        }
    }

    @Test func aRedirectLoopFailsAtOnceWithoutRetries() async throws {
        let loop = try RedirectLoop()
        defer { loop.server.stop() }
        let host = "127.0.0.1:\(loop.server.port)"
        let client = RegistryClient(configuration: .init(insecureHosts: [host], retry: RetryPolicy(attempts: 5, base: 0.01, cap: 0.02)))
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let puller = ModelPuller(store: ModelStore(root: dir.path), client: client)
        do {
            _ = try await puller.pull(try ModelReference(parsing: "\(host)/fleet/loop:v1"))
            Issue.record("a redirect loop was followed to a result")
        } catch let error as RegistryError {
            #expect(error.description.contains(host), "\(error)")
            #expect(error.description.contains("redirect"), "\(error)")
        }
        // One chain of redirects (the transport's own limit), not one chain per retry.
        let count = loop.requests.load(ordering: .relaxed)
        #expect(count >= 2 && count <= 25, "\(count) requests")
    }

    /// Accepts, reads the request and never answers: a registry on a dead link.
    static func stalledRegistry() throws -> LoopbackServer {
        try LoopbackServer { fd in
            _ = LoopbackServer.readHead(fd)
            sleep(20)
            close(fd)
        }
    }

    @Test func aPullPastItsDeadlineStopsWithAMessageThatSaysSo() async throws {
        let stall = try Self.stalledRegistry()
        defer { stall.stop() }
        let host = "127.0.0.1:\(stall.port)"
        var configuration = RegistryClient.Configuration(insecureHosts: [host], idleTimeout: 60)
        configuration.pullDeadline = 1.5
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let puller = ModelPuller(store: ModelStore(root: dir.path), client: RegistryClient(configuration: configuration))
        let start = Date()
        do {
            _ = try await puller.pull(try ModelReference(parsing: "\(host)/fleet/slow:v1"))
            Issue.record("a stalled pull succeeded")
        } catch let error as RegistryError {
            #expect(error.fault == .transport)
            #expect(error.description.contains("deadline"), "\(error)")
        }
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func thePullDeadlineFlagAndConfigKeyStopAStalledPullWithTheFix() throws {
        let stall = try Self.stalledRegistry()
        defer { stall.stop() }
        let host = "127.0.0.1:\(stall.port)"
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let kiln = TestEnvironment.kilnExecutable
        let store = dir.appendingPathComponent("store").path
        // The flag on `kiln pull`.
        var start = Date()
        let pull = try TestEnvironment.run(kiln, ["pull", "\(host)/fleet/slow:v1", "--insecure-registry", host, "--store", store,
                                                  "--pull-deadline", "1500ms"])
        #expect(pull.status == 1, "\(pull.stderr)")
        #expect(pull.stderr.contains("deadline") && pull.stderr.contains("--pull-deadline"), "\(pull.stderr)")
        #expect(Date().timeIntervalSince(start) < 10)
        // The same setting as a kiln.conf key of `kiln run`.
        let conf = dir.appendingPathComponent("kiln.conf")
        try "model = \(host)/fleet/slow:v1\ninsecure-registry = \(host)\nstore = \(store)\npull-deadline = 1s\nbackend = reference\n"
            .write(to: conf, atomically: true, encoding: .utf8)
        start = Date()
        let run = try TestEnvironment.run(kiln, ["run", "--config", conf.path, "--frames", "1"])
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("1 s deadline"), "\(run.stderr)")
        #expect(Date().timeIntervalSince(start) < 15)
        // A deadline that is not a positive duration is a usage error naming the flag.
        let bad = try TestEnvironment.run(kiln, ["pull", "\(host)/fleet/slow:v1", "--pull-deadline", "soon"])
        #expect(bad.status == 2 && bad.stderr.contains("--pull-deadline"), "\(bad.stderr)")
    }

    @Test func aPullOntoAFullDiskStopsAtOnceNamingTheStoreAndLeavesNoPartial() async throws {
        guard let unshare = try TestEnvironment.tool("unshare") else { return }
        try await RegistryServer.withScratch { registry, dir in
            // A 3 MB model onto a 1 MiB filesystem (a real tmpfs in a private mount namespace).
            let model = try Fixtures.modelFile(in: dir, size: 3_000_000, seed: 33)
            _ = try await Fixtures.publish(model, to: "\(registry.host)/fleet/full:v1", client: Fixtures.client(registry), work: dir)
            let store = dir.appendingPathComponent("small").path
            try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
            let script = """
                mount -t tmpfs -o size=1m tmpfs '\(store)' || exit 99
                '\(TestEnvironment.kilnExecutable)' pull \(registry.host)/fleet/full:v1 --insecure-registry \(registry.host) --store '\(store)'
                echo "exit=$?"
                find '\(store)' -type f -printf 'file %s %p\\n'
                """
            let start = Date()
            let r = try TestEnvironment.run(unshare, ["-rm", "sh", "-c", script])
            #expect(!r.stdout.isEmpty && !r.stdout.contains("exit=0"), "\(r.stdout) \(r.stderr)")
            #expect(r.stdout.contains("exit=1"), "\(r.stdout) \(r.stderr)")
            #expect(r.stderr.contains("disk full") && r.stderr.contains(store) && r.stderr.contains("--store"), "\(r.stderr)")
            // Not retried as if transient, and nothing half-written is left to be taken for a model.
            #expect(Date().timeIntervalSince(start) < 20)
            let files = r.stdout.split(separator: "\n").filter { $0.hasPrefix("file ") }
            #expect(!files.contains { $0.contains(".partial") }, "\(files)")
            #expect(!files.contains { $0.split(separator: " ")[1] == "3000000" }, "\(files)")
        }
    }

    @Test func aCorruptTransferIsATransportFaultAndTheHealedRegistryServesTheDigest() async throws {
        try await RegistryServer.withScratch { registry, dir in
            let model = try Fixtures.modelFile(in: dir, size: 100_000, seed: 21)
            let client = Fixtures.client(registry)
            _ = try await Fixtures.publish(model, to: "\(registry.host)/fleet/heal:v1", client: client, work: dir)
            let digest = try FileDigest.of(path: model).digest
            let blob = registry.blobFile(digest.hex)
            let original = try Data(contentsOf: URL(fileURLWithPath: blob))
            var tampered = original
            tampered[1000] ^= 0xFF
            try tampered.write(to: URL(fileURLWithPath: blob))
            let puller = ModelPuller(store: ModelStore(root: dir.appendingPathComponent("store").path), client: client)
            do {
                _ = try await puller.pull(try ModelReference(parsing: "\(registry.host)/fleet/heal:v1"))
                Issue.record("a corrupt transfer was accepted")
            } catch let error as RegistryError {
                #expect(error.kind == .digestMismatch)
                #expect(error.fault == .transport, "a corrupt transfer must never refuse the digest")
            }
            try original.write(to: URL(fileURLWithPath: blob))
            let pulled = try await puller.pull(try ModelReference(parsing: "\(registry.host)/fleet/heal:v1"))
            #expect(pulled.modelDigest == digest)
        }
    }
}
