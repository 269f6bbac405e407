import Foundation
import KilnCore
import KilnRegistry
import KilnTestSupport

/// A followed tag, `HOST/fleet/NAME:prod`, on a test registry, and the models a test publishes to
/// it: each written as `<name>.onnx` in the test's scratch directory first.
struct FleetTag {
    /// The tag as `kiln run` and the configuration file take it.
    let text: String
    /// The tag, parsed.
    let reference: ModelReference
    /// A client for the (plain HTTP) test registry.
    let client: RegistryClient
    private let registryHost: String
    private let directory: URL

    /// The tag `registry.host/fleet/name:prod`, publishing from `directory`.
    init(_ name: String, on registry: RegistryServer, in directory: URL) throws {
        text = "\(registry.host)/fleet/\(name):prod"
        reference = try ModelReference(parsing: text)
        client = RegistryClient(configuration: .init(insecureHosts: [registry.host]))
        registryHost = registry.host
        self.directory = directory
    }

    /// Publishes `bytes` with the real `kiln publish`; returns the digest it prints.
    func publish(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = directory.appendingPathComponent("\(name).onnx")
        try Data(bytes).write(to: path)
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, ["publish", path.path, "--to", text, "--insecure-registry", registryHost])
        guard r.status == 0 else { throw TestEnvironment.SetupError("publish \(name): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Publishes `bytes` in process (the artifact builder and publisher `kiln publish` uses);
    /// returns the manifest digest.
    func publishInProcess(_ bytes: [UInt8], _ name: String) async throws -> Digest {
        let path = directory.appendingPathComponent("\(name).onnx").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let artifact = try ModelArtifactBuilder(modelPath: path, goldenDirectory: nil, annotations: KilnAnnotations(), name: name,
                                                workDirectory: directory.appendingPathComponent("work-\(name)").path)
        return try await ModelPublisher(client: client).publish(artifact, to: reference)
    }

    /// `kiln run TAG --follow` as the agent tests run it: polls every 0.5 s, keeps its store and
    /// cache in the scratch directory and its rollout state in `stateDirectory`, serves `source`
    /// on the reference backend with one thread and reports once, as JSON; `extra` (probation,
    /// profile, limits, metrics address) is appended.
    func followArguments(stateDirectory: URL, source: String = "synthetic:160x120", _ extra: [String] = []) -> [String] {
        ["run", text, "--follow", "--poll-interval", "0.5s", "--state-dir", stateDirectory.path,
         "--store", directory.appendingPathComponent("store").path, "--cache-dir", directory.appendingPathComponent("cache").path,
         "--insecure-registry", registryHost, "--backend", "reference", "--source", source,
         "--report-interval", "0", "--json", "--threads", "1"] + extra
    }
}
