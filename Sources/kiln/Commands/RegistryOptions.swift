import Foundation
import KilnAgent
import KilnCore
import KilnRegistry

/// The flags every registry-using command shares: `--auth-file`, `--insecure-registry`, `--store`.
struct RegistryOptions {
    /// Help text for the shared flags.
    static let help = """
          --auth-file FILE            credentials ({"auths": {HOST: {"auth": base64(user:pass)}}});
                                      default REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json,
                                      ~/.docker/config.json
          --insecure-registry HOST:PORT  reach this registry over plain HTTP (repeatable)
          --ca-bundle FILE            PEM CAs to trust besides the system's (private registries)
          --store DIR                 the local model store (default KILN_STORE or
                                      ~/.cache/kiln/models)
          --pull-deadline DURATION    how long one pull may take, retries included (default
                                      30m); what arrived is kept and the next pull resumes it
        """

    var client: RegistryClient
    var store: ModelStore

    /// Consumes the shared flags.
    init(_ arguments: inout Arguments) throws {
        let auth = try AuthFile.load(explicitPath: try arguments.option("--auth-file"))
        let insecure = Set(try arguments.options("--insecure-registry"))
        let caBundle = try arguments.option("--ca-bundle")
        if let caBundle, !FileManager.default.isReadableFile(atPath: caBundle) {
            throw UsageError("--ca-bundle \(caBundle): no such readable file; pass a PEM file of CA certificates")
        }
        var configuration = RegistryClient.Configuration(auth: auth, insecureHosts: insecure, caBundle: caBundle)
        if let deadline = try arguments.option("--pull-deadline", "a duration like 30m", { DurationText.seconds($0).flatMap { $0 > 0 ? $0 : nil } }) {
            configuration.pullDeadline = deadline
        }
        client = RegistryClient(configuration: configuration)
        store = ModelStore(root: try arguments.option("--store") ?? KilnDirectories().store)
    }

    /// The agent's registry access for these flags.
    var access: RegistryAccess { RegistryAccess(client: client, store: store) }
}
