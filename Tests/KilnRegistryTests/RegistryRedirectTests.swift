import Foundation
import Glibc
import KilnRegistry
import KilnTestSupport
import Synchronization
import Testing

/// Blob downloads redirected to "blob storage" on another host (as registries backed by S3 or
/// a CDN answer them): followed, and the registry's credentials are not sent along.
@Suite(.serialized) struct RegistryRedirectTests {
    /// A one-request-per-connection HTTP front for a registry that answers blob GETs with a 307
    /// to `storage` and forwards everything else.
    final class RedirectingFront: @unchecked Sendable {
        var server: LoopbackServer!
        init(registryPort: Int, storagePort: Int) throws {
            server = try LoopbackServer { fd in
                defer { close(fd) }
                guard let head = LoopbackServer.readHead(fd) else { return }
                let requestLine = head.split(separator: "\r\n").first.map(String.init) ?? ""
                let parts = requestLine.split(separator: " ")
                if parts.count >= 2, parts[0] == "GET", let range = parts[1].range(of: "/blobs/sha256:") {
                    let digest = parts[1][range.upperBound...]
                    let response = "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://localhost:\(storagePort)/storage/\(digest)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    LoopbackServer.writeAll(fd, Array(response.utf8))
                    return
                }
                // Forward the request (head and body) to the registry, one connection per request.
                var lines = head.components(separatedBy: "\r\n").filter { !$0.lowercased().hasPrefix("connection:") && !$0.isEmpty }
                lines.append("Connection: close")
                let length = lines.first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                var body = [UInt8](repeating: 0, count: length)
                var got = 0
                while got < length {
                    let n = body[got...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n <= 0 { break }
                    got += n
                }
                let upstream = LoopbackServer.connect(port: registryPort, timeout: 30)
                guard upstream >= 0 else { return }
                defer { close(upstream) }
                LoopbackServer.writeAll(upstream, Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8) + body)
                var buf = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = read(upstream, &buf, buf.count)
                    if n <= 0 { break }
                    if !LoopbackServer.writeAll(fd, Array(buf.prefix(n))) { break }
                }
            }
        }
        var host: String { "127.0.0.1:\(server.port)" }
        func stop() { server.stop() }
    }

    /// "Blob storage": serves the registry's blob files by digest and records the headers it got.
    final class Storage: @unchecked Sendable {
        var server: LoopbackServer!
        let heads = Mutex<[String]>([])
        init(registry: RegistryServer) throws {
            server = try LoopbackServer { [unowned self] fd in
                defer { close(fd) }
                guard let head = LoopbackServer.readHead(fd) else { return }
                heads.withLock { $0.append(head) }
                let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? ""
                let hex = String(path.split(separator: "/").last ?? "")
                guard let data = FileManager.default.contents(atPath: registry.blobFile(hex)) else {
                    LoopbackServer.writeAll(fd, Array("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
                    return
                }
                LoopbackServer.writeAll(fd, Array("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(data.count)\r\nConnection: close\r\n\r\n".utf8) + Array(data))
            }
        }
        var port: Int { server.port }
        func stop() { server.stop() }
    }

    @Test func blobRedirectIsFollowedWithoutTheRegistryCredentials() async throws {
        try await RegistryServer.withScratch(.htpasswd(user: "fleet", password: "redirect-pw")) { registry, dir in
            let model = try Fixtures.modelFile(in: dir, size: 200_000, seed: 40)
            let direct = try Fixtures.authFile(in: dir, host: registry.host, user: "fleet", password: "redirect-pw")
            _ = try await Fixtures.publish(model, to: "\(registry.host)/fleet/redir:v1", client: Fixtures.client(registry, auth: direct), work: dir)

            let storage = try Storage(registry: registry)
            defer { storage.stop() }
            let front = try RedirectingFront(registryPort: registry.port, storagePort: storage.port)
            defer { front.stop() }
            let viaFront = try Fixtures.authFile(in: dir.appendingPathComponent("f").creatingDirectory(), host: front.host,
                                                 user: "fleet", password: "redirect-pw")
            let client = RegistryClient(configuration: .init(auth: viaFront, insecureHosts: [front.host, "localhost:\(storage.port)"]))
            let pulled = try await ModelPuller(store: ModelStore(root: dir.appendingPathComponent("store").path), client: client)
                .pull(try ModelReference(parsing: "\(front.host)/fleet/redir:v1"))
            #expect(try Fixtures.sha256(file: pulled.path) == Fixtures.sha256(file: model))
            let heads = storage.heads.withLock { $0 }
            #expect(heads.contains { $0.contains(pulled.modelDigest.hex) }, "the model came from storage")
            #expect(!heads.contains { $0.lowercased().contains("authorization:") }, "credentials leaked to storage: \(heads)")
        }
    }
}
