import Foundation
import KilnAgent
import KilnCore
import KilnInference
import KilnONNX
import KilnTestSupport
import Testing

@Suite struct RunCommandTests {
    /// Two distinct models (different digests) that the loop can serve.
    func writeModels(in dir: URL) throws -> (URL, URL) {
        let a = dir.appendingPathComponent("a.onnx"), b = dir.appendingPathComponent("b.onnx")
        try Data(DemoModel.bytes()).write(to: a)
        var model = DemoModel.model()
        model.producerVersion = "demo-b"
        try Data(ONNXWriter.serialize(model)).write(to: b)
        return (a, b)
    }

    /// SIGHUP once the engine is being built (the signal must be queued, not kill the process)
    /// and once it is ready.
    @Test(arguments: ["building reference engine", "engine miss"])
    func sighupReloadsTheConfigurationAndSwapsAChangedModelWithoutDrops(after logLine: String) throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try writeModels(in: dir)
        let conf = dir.appendingPathComponent("kiln.conf")
        try "model = \(a.path)\nsource = synthetic:320x240\nreport-interval = 0\n".write(to: conf, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.kilnExecutable)
        process.arguments = ["run", "--config", conf.path, "--duration", "6s", "--json", "--cache-dir", dir.appendingPathComponent("cache").path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Wait for the first engine's build (or its result), then change the model and send SIGHUP.
        var log = Data()
        let deadline = Date().addingTimeInterval(60)
        while !String(decoding: log, as: UTF8.self).contains(logLine), Date() < deadline {
            log.append(err.fileHandleForReading.availableData)
        }
        try "model = \(b.path)\nsource = synthetic:320x240\n".write(to: conf, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        log.append(err.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        let stderr = String(decoding: log, as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(stderr)")
        #expect(stderr.contains("now serving \(b.path)"), "\(stderr)")
        let last = String(decoding: stdout, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        let json = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        #expect((json["model"] as? [String: Any])?["digest"] as? String == ModelSource(bytes: Array(try Data(contentsOf: b)), name: "").digest)
        #expect(json["dropped"] as? Int == 0)
        #expect((json["frames"] as? Int ?? 0) > 10)
    }

    @Test func aConfigurationTypoIsRejectedNamingTheFileAndLine() throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let conf = dir.appendingPathComponent("kiln.conf")
        try "model = x.onnx\njson = perhaps\n".write(to: conf, atomically: true, encoding: .utf8)
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, ["run", "--config", conf.path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("kiln.conf:2"), "\(r.stderr)")
    }

    /// `--profile-ops` times the reference backend's ops in the shipped binary: a per-op-type table
    /// and the slowest nodes on stderr, nothing on stdout (the `--json` summary stays one object).
    @Test func profileOpsPrintsPerOpTypeAndSlowestNodesOnStderrOnly() throws {
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, _) = try writeModels(in: dir)
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
            "run", a.path, "--source", "synthetic:320x240", "--frames", "30", "--report-interval", "0", "--json",
            "--profile-ops", "--cache-dir", dir.appendingPathComponent("cache").path])
        #expect(r.status == 0, "\(r.stderr)")
        let profile = try #require(r.stderr.components(separatedBy: "profile of the reference backend").last, "\(r.stderr)")
        let lines = profile.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("total") && $0.contains(" ms") }, "\(profile)")
        #expect(lines.contains { $0.contains("Pool") }, "the demo model's AveragePool is not in the profile: \(profile)")
        // Node rows: mean ms, fastest ms, op, node; every timed node of the demo graph has run 30 times.
        let rows = lines.drop { !$0.hasPrefix("mean ms") }.dropFirst().prefix { $0.first?.isNumber == true }
        #expect(rows.count >= 3, "\(profile)")
        for row in rows {
            let fields = row.split(separator: " ", omittingEmptySubsequences: true)
            let mean = Double(fields.first ?? ""), fastest = Double(fields.dropFirst().first ?? "")
            #expect(mean != nil && fastest != nil && fastest! <= mean! + 1e-9, "row: \(row)")
        }
        #expect(!r.stdout.contains("fastest run") && !r.stdout.contains("mean ms"), "profile output on stdout: \(r.stdout)")
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect((try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any] != nil, "stdout: \(r.stdout)")
    }
}

@Suite struct RunCommandVideoTests {
    /// A real clip decoded by ffmpeg through `pipe:`: every frame is served once, none dropped,
    /// and each gets a result line.
    @Test func ffmpegPipeRunsEveryFrameOfTheClip() throws {
        guard let ffmpeg = try TestEnvironment.tool("ffmpeg"), let clip = try TestEnvironment.dataFile("video/bikes.mp4") else { return }
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("demo.onnx")
        try Data(DemoModel.bytes()).write(to: model)
        let results = dir.appendingPathComponent("results.jsonl")
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
            "run", model.path, "--source", "pipe:640x272:\(ffmpeg) -loglevel error -i \(clip.path) -f rawvideo -pix_fmt rgb24 -",
            "--postprocess", "topk:2", "--results", "file:\(results.path)", "--json", "--report-interval", "0",
            "--cache-dir", dir.appendingPathComponent("cache").path,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let json = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        #expect(json["frames"] as? Int == 250)
        #expect(json["dropped"] as? Int == 0)
        let lines = try String(contentsOf: results, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 250)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect((first["classifications"] as? [[String: Any]])?.count == 2)
    }
}
