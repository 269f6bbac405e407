import Foundation
import KilnCore
import KilnRegistry

/// `kiln pull REF`: fetches a model artifact into the local store.
struct PullCommand: Command {
    static let name = "pull"
    static let summary = "Fetch a model from an OCI layout or registry into the local store"
    static let help = """
        Usage: kiln pull REF [--json] [options]

        REF: oci:PATH:TAG, oci:PATH@sha256:…, HOST[:PORT]/REPO:TAG, HOST[:PORT]/REPO@sha256:…,
        or a .onnx file. Blobs are verified against their digests; an interrupted download
        resumes where it stopped.

          --json                      print one JSON object as the last line: digest, path
                                      (the local ONNX file), model_digest, golden, annotations
        \(RegistryOptions.help)
        """

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        let json = arguments.flag("--json")
        let options = try RegistryOptions(&arguments)
        let text = try arguments.required("REF")
        let reference = try ModelReference(parsing: text)
        try arguments.finish()
        let model = try await ModelPuller(store: options.store, client: options.client).pull(reference)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(model), as: UTF8.self))
        } else {
            print("\(model.reference) \(model.digest)")
            print("model: \(model.path) (\(model.modelSize) bytes)")
            if let golden = model.goldenPath { print("golden data: \(golden)") }
        }
        return .ok
    }
}
