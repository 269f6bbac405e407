import Foundation
import KilnCore
@testable import KilnRegistry
import KilnTestSupport
import Testing

/// References, the artifact format, tar, auth files and poll schedules: the parts
/// that need no server.
@Suite struct RegistryFormatTests {
    @Test func referencesParseInEveryDocumentedSpelling() throws {
        let hex = String(repeating: "ab", count: 32)
        #expect(try ModelReference(parsing: "oci:/data/models:prod") == .layout(path: "/data/models", tag: "prod", digest: nil))
        #expect(try ModelReference(parsing: "oci:models") == .layout(path: "models", tag: "latest", digest: nil))
        #expect(try ModelReference(parsing: "oci:/m@sha256:\(hex)") == .layout(path: "/m", tag: nil, digest: Digest(hex: hex)))
        #expect(try ModelReference(parsing: "det.onnx") == .file(path: "det.onnx"))
        let r = try RegistryReference(parsing: "10.0.0.5:5000/fleet/det:prod")
        #expect(r.host == "10.0.0.5:5000" && r.repository == "fleet/det" && r.tag == "prod" && r.digest == nil)
        let pinned = try RegistryReference(parsing: "registry.example.com/fleet/det@sha256:\(hex)")
        #expect(pinned.digest?.hex == hex && pinned.tag == nil && pinned.manifestReference == "sha256:\(hex)")
        #expect(try RegistryReference(parsing: "localhost/det").tag == "latest")
        #expect(try ModelReference(parsing: "localhost:5000/a/b:v1").pinned(to: Digest(hex: hex)).description == "localhost:5000/a/b@sha256:\(hex)")
    }

    @Test func badReferencesNameTheInputAndTheFix() {
        for bad in ["fleet/det:prod", "registry.io/Fleet/Det:v1", "registry.io/a:bad tag", "oci:x@sha256:123", "registry.io/a@md5:00"] {
            #expect(throws: RegistryError.self, "\(bad)") { _ = try ModelReference(parsing: bad) }
            do { _ = try ModelReference(parsing: bad) } catch let e as RegistryError {
                #expect(e.description.contains(bad) || e.description.contains(String(bad.split(separator: "@").last ?? "")))
                #expect(e.exitCode == .usage)
            } catch {}
        }
    }

    @Test func tarRoundTripsNestedFilesAndLongNamesAndRejectsTraversal() throws {
        let long = String(repeating: "d", count: 120) + "/input_0.pb"
        let entries = [
            TarArchive.Entry(path: "test_data_set_0", contents: [], isDirectory: true),
            TarArchive.Entry(path: "test_data_set_0/input_0.pb", contents: Array(0..<200).map { UInt8($0) }),
            TarArchive.Entry(path: "test_data_set_0/output_0.pb", contents: []),
            TarArchive.Entry(path: long, contents: [1, 2, 3]),
        ]
        let bytes = try TarArchive.write(entries)
        #expect(bytes.count % 512 == 0)
        #expect(try TarArchive.read(bytes, source: "t") == entries)
        // GNU tar reads what Kiln writes.
        if let tar = TestEnvironment.which("tar") {
            let dir = try TestEnvironment.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            try Data(bytes).write(to: dir.appendingPathComponent("g.tar"))
            let listed = try TestEnvironment.run(tar, ["-tf", dir.appendingPathComponent("g.tar").path])
            #expect(listed.status == 0)
            #expect(listed.stdout.contains("test_data_set_0/input_0.pb") && listed.stdout.contains(long))
        }
        var evil = try TarArchive.write([TarArchive.Entry(path: "a/b", contents: [1])])
        let name = Array("../../etc/x".utf8)
        for i in 0..<100 { evil[i] = i < name.count ? name[i] : 0 }
        for i in 148..<156 { evil[i] = 0x20 }
        let sum = evil[0..<512].reduce(0) { $0 + Int($1) }
        let text = Array((String(sum, radix: 8).count < 6 ? String(repeating: "0", count: 6 - String(sum, radix: 8).count) : "") .utf8) + Array(String(sum, radix: 8).utf8)
        for (i, b) in text.enumerated() { evil[148 + i] = b }
        evil[154] = 0
        #expect(throws: RegistryError.self) { _ = try TarArchive.read(evil, source: "evil") }
    }

    @Test func annotationsRoundTripAndRejectMalformedValues() throws {
        let a = KilnAnnotations(preprocess: "letterbox,640x640,rgb", shapeProfiles: ["images": ShapeProfile(min: [1, 3, 640, 640], opt: [2, 3, 640, 640], max: [4, 3, 640, 640])],
                                precision: .fp16, sloP99Milliseconds: 20, rolloutPercentage: 12.5, rolloutID: "wave-3",
                                goldenTolerance: .init(rtol: 0.01, atol: 0.001))
        #expect(try KilnAnnotations(annotations: try a.manifestAnnotations(), source: "x") == a)
        #expect(throws: RegistryError.self) { _ = try KilnAnnotations(annotations: [AnnotationKeys.rolloutPercentage: "150"], source: "x") }
        #expect(throws: RegistryError.self) { _ = try KilnAnnotations(annotations: [AnnotationKeys.precision: "fp64"], source: "x") }
        // Postprocessing shipped with the model: JSON that round-trips; out-of-range or malformed values are refused.
        let shipped = try KilnAnnotations(annotations: [AnnotationKeys.postprocess: #"{"method":"yolo","conf":0.5,"classes":[0],"labels":["text"]}"#], source: "x")
        #expect(shipped.postprocess?.method == "yolo" && shipped.postprocess?.labels == ["text"] && shipped.postprocess?.confidence == 0.5)
        #expect(try KilnAnnotations(annotations: try shipped.manifestAnnotations(), source: "x") == shipped)
        #expect(throws: RegistryError.self) { _ = try KilnAnnotations(annotations: [AnnotationKeys.postprocess: #"{"conf":2}"#], source: "x") }
        #expect(throws: RegistryError.self) { _ = try KilnAnnotations(annotations: [AnnotationKeys.postprocess: "yolo"], source: "x") }
    }

    @Test func anArtifactWithoutAnOnnxLayerIsRefusedWithTheLayersListed() throws {
        let d = Digest.of([1])
        let manifest = OCIManifest(artifactType: nil, config: OCIDescriptor(mediaType: MediaTypes.ociEmpty, digest: d, size: 1),
                                   layers: [OCIDescriptor(mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d, size: 1)],
                                   annotations: nil)
        do {
            _ = try ModelArtifact(manifest: manifest, source: "r/x:1")
            Issue.record("accepted a container image as a model")
        } catch let e as RegistryError {
            #expect(e.kind == .invalidArtifact && e.description.contains("r/x:1") && e.description.contains("tar+gzip"))
        }
    }

    @Test func authFilesAndChallengesParse() throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("config.json").path
        try #"{"auths":{"https://reg.example.com":{"auth":"dXNlcjpwYTpzcw=="},"other:5000":{"username":"u","password":"p"}}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let auth = try AuthFile.load(environment: ["DOCKER_CONFIG": dir.path, "HOME": "/nonexistent"])
        #expect(auth.credentials(for: "reg.example.com") == RegistryCredentials(username: "user", password: "pa:ss"))
        #expect(auth.credentials(for: "other:5000")?.username == "u")
        #expect(!"\(auth.credentials(for: "reg.example.com")!)".contains("pa:ss"))
        #expect(throws: RegistryError.self) { _ = try AuthFile.load(explicitPath: dir.appendingPathComponent("missing.json").path) }
    }

    @Test func pollScheduleStaysWithinItsBounds() {
        let s = PollSchedule(interval: 60, jitter: 0.2)
        #expect(abs(s.delay(failures: 0, random: 0) - 48) < 1e-9 && abs(s.delay(failures: 0, random: 1) - 72) < 1e-9)
        #expect(s.delay(failures: 1, random: 1) == 5 && s.delay(failures: 3, random: 1) == 20)
        #expect(s.delay(failures: 30, random: 1) == 120 && s.delay(failures: 30, random: 0) == 60)
        let r = RetryPolicy(attempts: 3, base: 0.25, cap: 4)
        #expect(r.delay(attempt: 0, random: 1) == 0.25 && r.delay(attempt: 10, random: 1) == 4)
    }
}

/// The CLI's registry commands on inputs that need no server.
@Suite struct RegistryCommandLineTests {
    @Test func pullOfAPlainOnnxFileReportsItsDigestAndPath() throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Fixtures.modelFile(in: dir, size: 1234, seed: 50)
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, ["pull", model, "--json", "--store", dir.appendingPathComponent("s").path])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data((r.stdout.split(separator: "\n").last ?? "").utf8)) as? [String: Any]
        #expect(object?["path"] as? String == model)
        #expect(object?["digest"] as? String == (try Fixtures.sha256(file: model)))
    }

    @Test func badInputsGiveUsageErrorsNamingThem() throws {
        let kiln = TestEnvironment.kilnExecutable
        let noTo = try TestEnvironment.run(kiln, ["publish", "m.onnx"])
        #expect(noTo.status == 2 && noTo.stderr.contains("--to"))
        let badRef = try TestEnvironment.run(kiln, ["pull", "fleet/det:prod"])
        #expect(badRef.status == 2 && badRef.stderr.contains("fleet/det:prod"))
        let badSLO = try TestEnvironment.run(kiln, ["publish", "m.onnx", "--to", "oci:/tmp/x:1", "--slo-p99", "fast"])
        #expect(badSLO.status == 2 && badSLO.stderr.contains("--slo-p99 fast"))
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let status = try TestEnvironment.run(kiln, ["status", "--state-dir", dir.path])
        #expect(status.status == 1 && status.stderr.contains("rollout.json") && status.stderr.contains("--follow"))
    }
}
