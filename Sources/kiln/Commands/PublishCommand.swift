import Foundation
import KilnAgent
import KilnCore
import KilnONNX
import KilnPostprocess
import KilnRegistry

/// `kiln publish MODEL.onnx --to REF`: packs a model as a CNCF ModelPack artifact with Kiln's
/// annotations and writes it to an OCI layout or pushes it to a registry.
struct PublishCommand: Command {
    static let name = "publish"
    static let summary = "Publish an ONNX model to an OCI layout or registry"
    static let help = """
        Usage: kiln publish MODEL.onnx --to REF [options]

        Packs MODEL.onnx as a CNCF ModelPack artifact (plus Kiln annotations and optional golden
        data) and writes it to REF: oci:PATH:TAG (an OCI image layout) or HOST[:PORT]/REPO:TAG.
        Prints the manifest digest.

          --to REF                    destination (required)
          --golden DIR                golden data: test_data_set_N/{input_K.pb,output_K.pb}
          --preprocess TEXT           preprocessing description for the run loop
          --precision P               fp32|fp16|int8|bf16|best
          --shape NAME=MIN:OPT:MAX    a shape profile, dims joined by x (repeatable),
                                      e.g. input=1x3x224x224:4x3x224x224:8x3x224x224
          --slo-p99 DURATION          latency SLO for the on-device gate (20ms, 1.5s)
          --tolerance RTOL,ATOL       golden-data tolerance override
          --rollout-percentage N      share of the fleet (0-100) that takes this artifact
          --rollout-id ID             rollout id for cohort hashing (default: manifest digest)
          --name NAME                 model name in the ModelPack config
          --postprocess P, --conf X, --iou X, --max-det N, --classes 0,2,…, --agnostic-nms,
          --labels FILE               postprocessing shipped with the model (as for kiln run);
                                      devices use it unless their own flags say otherwise, and
                                      it changes with rollouts
        \(RegistryOptions.help)

        Example: kiln publish det.onnx --to 10.0.0.5:5000/fleet/det:prod --golden golden/ --slo-p99 20ms
        """

    static func run(_ arguments: inout Arguments) async throws -> ExitCode {
        guard let to = try arguments.option("--to") else {
            throw UsageError("kiln publish: --to REF is required (oci:PATH:TAG or HOST[:PORT]/REPO:TAG)")
        }
        let destination = try ModelReference(parsing: to)
        let golden = try arguments.option("--golden")
        var annotations = KilnAnnotations()
        annotations.preprocess = try arguments.option("--preprocess")
        annotations.precision = try arguments.option("--precision", "one of fp32 fp16 int8 bf16 best") { Precision(rawValue: $0) }
        annotations.sloP99Milliseconds = try arguments.option("--slo-p99", "a duration like 20ms") { DurationText.milliseconds($0) }
        annotations.rolloutPercentage = try arguments.option("--rollout-percentage", "a number from 0 to 100") {
            Double($0).flatMap { (0...100).contains($0) ? $0 : nil }
        }
        annotations.rolloutID = try arguments.option("--rollout-id")
        annotations.goldenTolerance = try arguments.option("--tolerance", "RTOL,ATOL", KilnAnnotations.GoldenTolerance.parse)
        var profiles: [String: ShapeProfile] = [:]
        for spec in try arguments.options("--shape") {
            guard let (name, profile) = parseShape(spec) else {
                throw UsageError("kiln publish: --shape \(spec): expected NAME=MIN:OPT:MAX with dims joined by x, e.g. input=1x3x224x224:4x3x224x224:8x3x224x224")
            }
            profiles[name] = profile
        }
        if !profiles.isEmpty { annotations.shapeProfiles = profiles }
        var postprocess = try PostprocessOptions.parse(&arguments)
        if let method = postprocess.method { _ = try PostprocessChoice.make(method, labels: [], sink: nil) }
        postprocess.labels = try arguments.option("--labels").map { try loadLabels(path: $0) }
        if !postprocess.isEmpty { annotations.postprocess = postprocess }
        let name = try arguments.option("--name")
        let options = try RegistryOptions(&arguments)
        let model = try arguments.required("MODEL.onnx")  // after every flag has taken its value
        try arguments.finish()

        // Refuse anything that is not an ONNX model before it reaches a fleet.
        do {
            _ = try ONNXReader.model(contentsOf: URL(fileURLWithPath: model))
        } catch {
            throw InvalidModelError("\(model) is not a readable ONNX model (\(error)); publish the .onnx file itself")
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-publish-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let artifact = try ModelArtifactBuilder(modelPath: model, goldenDirectory: golden, annotations: annotations,
                                                name: name, workDirectory: work)
        let digest = try await ModelPublisher(client: options.client).publish(artifact, to: destination)
        print(digest)
        return .ok
    }

    static func parseShape(_ spec: String) -> (String, ShapeProfile)? {
        guard let eq = spec.lastIndex(of: "=") else { return nil }
        let dims = spec[spec.index(after: eq)...].split(separator: ":").map { part in
            part.split(separator: "x").compactMap { Int($0) }
        }
        guard dims.count == 3, dims.allSatisfy({ !$0.isEmpty && $0.count == dims[0].count }) else { return nil }
        return (String(spec[..<eq]), ShapeProfile(min: dims[0], opt: dims[1], max: dims[2]))
    }
}
