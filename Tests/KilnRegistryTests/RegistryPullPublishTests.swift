import Foundation
@testable import KilnRegistry
import KilnTestSupport
import Testing

/// Publish and pull against a real Debian `docker-registry`, with Kiln and with skopeo.
@Suite(.serialized) struct RegistryPullPublishTests {
    @Test func cliPublishThenPullByTagAndByDigestReturnsTheSameModel() async throws {
        try await RegistryServer.withScratch { registry, dir in
            let model = try Fixtures.onnxModel(in: dir, floats: 75_000, seed: 1)
            let golden = try Fixtures.goldenDirectory(in: dir)
            // Not ONNX: refused before anything is written, exit code 3.
            let junk = try Fixtures.modelFile(in: dir, name: "junk.onnx", size: 1000, seed: 99)
            let refused = try TestEnvironment.run(TestEnvironment.kilnExecutable, ["publish", junk, "--to", "oci:\(dir.path)/lay:v1"])
            #expect(refused.status == 3 && refused.stderr.contains("junk.onnx"), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.path + "/lay"))
            let kiln = TestEnvironment.kilnExecutable
            let ref = "\(registry.host)/fleet/detector:prod"
            let published = try TestEnvironment.run(kiln, ["publish", model, "--to", ref, "--golden", golden, "--slo-p99", "20ms",
                                                          "--precision", "fp16", "--rollout-percentage", "25",
                                                          "--insecure-registry", registry.host])
            #expect(published.status == 0, "\(published.stderr)")
            let digest = published.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(digest.hasPrefix("sha256:"))

            let store = dir.appendingPathComponent("store").path
            for pullRef in [ref, "\(registry.host)/fleet/detector@\(digest)"] {
                let pulled = try TestEnvironment.run(kiln, ["pull", pullRef, "--json", "--store", store, "--insecure-registry", registry.host])
                #expect(pulled.status == 0, "\(pulled.stderr)")
                let line = pulled.stdout.split(separator: "\n").last.map(String.init) ?? ""
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object?["digest"] as? String == digest)
                let path = try #require(object?["path"] as? String)
                #expect(try Fixtures.sha256(file: path) == Fixtures.sha256(file: model))
                let annotations = object?["annotations"] as? [String: Any]
                #expect(annotations?["sloP99Milliseconds"] as? Double == 20)
                #expect(annotations?["rolloutPercentage"] as? Double == 25)
                #expect(annotations?["precision"] as? String == "fp16")
                let goldenTar = try #require(object?["golden"] as? String)
                let entries = try TarArchive.read(Array(try Data(contentsOf: URL(fileURLWithPath: goldenTar))), source: goldenTar)
                #expect(entries.contains { $0.path == "test_data_set_0/output_0.pb" && $0.contents == [8, 1, 16, 1, 1] })
            }
            // The manifest as an independent client sees it: a ModelPack artifact.
            if let skopeo = try TestEnvironment.tool("skopeo") {
                let raw = try TestEnvironment.run(skopeo, ["inspect", "--raw", "--tls-verify=false", "docker://\(ref)"])
                #expect(raw.stdout.contains(MediaTypes.modelArtifact))
                #expect(raw.stdout.contains(MediaTypes.modelWeightRaw))
                #expect(raw.stdout.contains(#""org.cncf.model.filepath":"model.onnx""#))
            }
        }
    }

    @Test func artifactPushedBySkopeoFromAHandWrittenLayoutIsPulled() async throws {
        guard let skopeo = try TestEnvironment.tool("skopeo") else { return }
        try await RegistryServer.withScratch { registry, dir in
            // An OCI layout written by hand, the way `oras push model.onnx` lays out an artifact:
            // empty config, one layer titled model.onnx with a generic media type.
            let layout = dir.appendingPathComponent("layout")
            let blobs = layout.appendingPathComponent("blobs/sha256")
            try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
            func put(_ bytes: [UInt8]) throws -> (String, Int) {
                let hex = Digest.of(bytes).hex
                try Data(bytes).write(to: blobs.appendingPathComponent(hex))
                return ("sha256:" + hex, bytes.count)
            }
            let modelPath = try Fixtures.modelFile(in: dir, size: 200_000, seed: 2)
            let model = Array(try Data(contentsOf: URL(fileURLWithPath: modelPath)))
            let (modelDigest, modelSize) = try put(model)
            let (configDigest, configSize) = try put(Array("{}".utf8))
            let manifest = """
                {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.unknown.artifact.v1",\
                "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"\(configDigest)","size":\(configSize)},\
                "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(modelDigest)","size":\(modelSize),\
                "annotations":{"org.opencontainers.image.title":"model.onnx"}}],\
                "annotations":{"dev.kiln.slo.p99-ms":"15"}}
                """
            let (manifestDigest, manifestSize) = try put(Array(manifest.utf8))
            try #"{"imageLayoutVersion":"1.0.0"}"#.write(to: layout.appendingPathComponent("oci-layout"), atomically: true, encoding: .utf8)
            try """
                {"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(manifestDigest)",\
                "size":\(manifestSize),"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}
                """.write(to: layout.appendingPathComponent("index.json"), atomically: true, encoding: .utf8)

            let copy = try TestEnvironment.run(skopeo, ["copy", "--preserve-digests", "--dest-tls-verify=false",
                                                        "oci:\(layout.path):v1", "docker://\(registry.host)/fleet/oras:v1"])
            #expect(copy.status == 0, "\(copy.stderr)")

            let puller = ModelPuller(store: ModelStore(root: dir.appendingPathComponent("store").path), client: Fixtures.client(registry))
            let byTag = try await puller.pull(try ModelReference(parsing: "\(registry.host)/fleet/oras:v1"))
            #expect(byTag.digest.description == manifestDigest)
            #expect(byTag.modelDigest.description == modelDigest)
            #expect(byTag.annotations.sloP99Milliseconds == 15)
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: byTag.path))) == model)
            let current = try await puller.currentDigest(of: try ModelReference(parsing: "\(registry.host)/fleet/oras:v1"))
            #expect(current.description == manifestDigest)
            // The same layout is also a model reference in its own right.
            let fromLayout = try await puller.pull(try ModelReference(parsing: "oci:\(layout.path):v1"))
            #expect(fromLayout.modelDigest == byTag.modelDigest)
            let pinned = try await puller.pull(try ModelReference(parsing: "oci:\(layout.path)@\(manifestDigest)"))
            #expect(pinned.digest.description == manifestDigest)
        }
    }

    @Test func indexPicksTheManifestForThisMachinesPlatform() async throws {
        guard let skopeo = try TestEnvironment.tool("skopeo") else { return }
        try await RegistryServer.withScratch { registry, dir in
            // Two Kiln artifacts (one per architecture) in one layout, then an index over both.
            let layoutPath = dir.appendingPathComponent("multi").path
            var entries: [OCIDescriptor] = []
            var models: [String: String] = [:]
            for (i, arch) in ["amd64", "arm64"].enumerated() {
                let model = try Fixtures.modelFile(in: dir, name: "model-\(arch).onnx", size: 50_000 + i, seed: UInt64(10 + i))
                models[arch] = try Fixtures.sha256(file: model)
                let artifact = try ModelArtifactBuilder(modelPath: model, goldenDirectory: nil, annotations: KilnAnnotations(), name: nil,
                                                        workDirectory: dir.appendingPathComponent("w\(i)").path)
                _ = try await ModelPublisher(client: RegistryClient()).publish(artifact, to: .layout(path: layoutPath, tag: arch, digest: nil))
                entries.append(OCIDescriptor(mediaType: MediaTypes.ociManifest, digest: artifact.manifestDigest,
                                             size: Int64(artifact.manifestBytes.count), platform: .init(os: "linux", architecture: arch)))
            }
            let layout = OCILayout(root: layoutPath)
            let indexBytes = Array(try JSONEncoder().encode(OCIIndex(manifests: entries)))
            let indexDigest = try layout.writeBlob(indexBytes)
            try layout.tag(OCIDescriptor(mediaType: MediaTypes.ociIndex, digest: indexDigest, size: Int64(indexBytes.count)), as: "multi")
            let copy = try TestEnvironment.run(skopeo, ["copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
                                                        "oci:\(layoutPath):multi", "docker://\(registry.host)/fleet/multi:v1"])
            #expect(copy.status == 0, "\(copy.stderr)")
            let puller = ModelPuller(store: ModelStore(root: dir.appendingPathComponent("store").path), client: Fixtures.client(registry))
            let pulled = try await puller.pull(try ModelReference(parsing: "\(registry.host)/fleet/multi:v1"))
            #if arch(arm64)
            let mine = "arm64"
            #else
            let mine = "amd64"
            #endif
            #expect(pulled.modelDigest.description == models[mine])
            #expect(pulled.digest == indexDigest)
        }
    }

    @Test func chunkedUploadOfALargeModelRoundTrips() async throws {
        try await RegistryServer.withScratch { registry, dir in
            let model = try Fixtures.modelFile(in: dir, size: 2_500_000, seed: 3)
            let client = Fixtures.client(registry, chunkSize: 1 << 20)
            let digest = try await Fixtures.publish(model, to: "\(registry.host)/fleet/big:v1", client: client, work: dir)
            // PATCH chunks were used: the requests sent exceed one PUT per blob.
            let puller = ModelPuller(store: ModelStore(root: dir.appendingPathComponent("store").path), client: Fixtures.client(registry))
            let pulled = try await puller.pull(try ModelReference(parsing: "\(registry.host)/fleet/big@\(digest)"))
            #expect(try Fixtures.sha256(file: pulled.path) == Fixtures.sha256(file: model))
            // Publishing again uploads nothing new (blobs exist), and yields the same digest for the same bytes.
            let again = try await Fixtures.publish(model, to: "\(registry.host)/fleet/big:v2", client: client, work: dir)
            #expect(try await puller.currentDigest(of: try ModelReference(parsing: "\(registry.host)/fleet/big:v2")) == again)
        }
    }

    @Test func publishToALayoutAndPullFromIt() async throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Fixtures.modelFile(in: dir, size: 10_000, seed: 4)
        let layout = dir.appendingPathComponent("lay").path
        let digest = try await Fixtures.publish(model, to: "oci:\(layout):v1", client: RegistryClient(), work: dir,
                                                annotations: KilnAnnotations(preprocess: "bgr,imagenet", sloP99Milliseconds: 12.5))
        let puller = ModelPuller(store: ModelStore(root: dir.appendingPathComponent("store").path), client: RegistryClient())
        let pulled = try await puller.pull(try ModelReference(parsing: "oci:\(layout):v1"))
        #expect(pulled.digest == digest)
        #expect(pulled.annotations.preprocess == "bgr,imagenet")
        #expect(pulled.annotations.sloP99Milliseconds == 12.5)
        #expect(try Fixtures.sha256(file: pulled.path) == Fixtures.sha256(file: model))
        await #expect(throws: RegistryError.self) {
            _ = try await puller.pull(try ModelReference(parsing: "oci:\(layout):missing"))
        }
    }
}
