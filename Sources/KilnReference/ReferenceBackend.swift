import Foundation
import KilnCore
import KilnInference
import KilnONNX
import KilnReferenceKernels

/// Kiln's pure-Swift CPU backend: builds an ONNX model into an optimised engine file and runs it.
///
/// Build does shape inference, constant folding, Identity/Dropout removal, BatchNormalization
/// folding, Conv+activation fusion and weight packing, then serialises the graph (see
/// `ReferenceEngineFormat`). Engines are bound to the backend version and the CPU instruction set.
public struct ReferenceBackend: InferenceBackend {
    /// The backend's version; part of the identity (bump when kernels change numerics).
    public static let version = "1.1"

    /// The ai.onnx op types this backend executes (opsets 9 and newer).
    public static let supportedOps: Set<String> = ReferenceKernels.supportedOps

    /// Creates the backend.
    public init() {}

    public var name: String { "reference" }

    public func availability() -> BackendAvailability {
        let missing = CPUFeatures.missingFeatures
        if missing.isEmpty { return .available }
        return .unavailable(reason: "this CPU lacks \(missing.joined(separator: ", ")), which this build of the reference kernels (\(CPUFeatures.instructionSet)) needs")
    }

    /// Throws when the CPU cannot run the compiled kernels.
    func requireAvailable() throws {
        if case .unavailable(let reason) = availability() { throw RuntimeError("reference backend: \(reason)") }
    }

    public func identity() throws -> BackendIdentity {
        BackendIdentity(backend: "reference", fields: [
            "version": Self.version,
            "format": String(ReferenceEngineFormat.version),
            "cpu": CPUFeatures.instructionSet,
        ])
    }

    /// The nodes of `model` this backend cannot run: op type, node name and why.
    public static func unsupportedNodes(_ model: ONNXModel) -> [(opType: String, node: String, reason: String)] {
        ReferenceKernels.unsupportedNodes(model)
    }

    /// True when the reference backend can run `node` under `opset` (for `kiln inspect`).
    public static func supports(_ node: ONNXNode, opset: Int64) -> Bool {
        (node.domain.isEmpty || node.domain == "ai.onnx") && supportedOps.contains(node.opType) && opset >= 9
    }

    public func build(model: ModelSource, options: BuildOptions) throws -> EngineArtifact {
        try requireAvailable()
        let start = MonotonicClock.now
        // Phases: parsing, each optimizer pass, serializing.
        let phaseCount = ReferenceOptimizer.passes.count + 2
        let progress = ProgressHub.shared.begin(.build, subject: model.name, unit: .phases, total: Int64(phaseCount), backend: name)
        var built = false
        defer { progress.finish(built ? .succeeded : .failed) }
        progress.enterPhase("parsing ONNX", index: 1, count: phaseCount)
        let onnx: ONNXModel
        do {
            onnx = try ONNXReader.model(model.bytes)
        } catch {
            throw InvalidModelError("\(model.name): \(error.description)")
        }
        let graph = try RGraph(model: onnx, name: model.name)
        let optimized: RGraph, report: ReferenceOptimizer.Report
        do {
            (optimized, report) = try ReferenceOptimizer.optimize(graph, threads: Self.threadCount(options)) { pass in
                progress.enterPhase(ReferenceOptimizer.passes[pass], index: pass + 2, count: phaseCount)
            }
        } catch var error as ModelLimitError {
            // Found while shape inference and folding ran the graph: name the model too.
            if !error.subject.hasPrefix(model.name) { error.subject = "\(model.name): \(error.subject)" }
            throw error
        }
        Log.debug("reference build of \(model.name): \(report)")
        let id = try identity()
        progress.enterPhase("serializing", index: phaseCount, count: phaseCount)
        let bytes = ReferenceEngineFormat.encode(optimized, identity: id)
        built = true
        return EngineArtifact(bytes: bytes, identity: id, workspaceBytes: 0, buildSeconds: MonotonicClock.now - start)
    }

    public func load(_ artifact: EngineArtifact, options: BuildOptions) throws -> any InferenceRunner {
        try requireAvailable()
        let id = try identity()
        guard artifact.identity == id else {
            throw InvalidModelError("reference engine: built by `\(artifact.identity)`, this backend is `\(id)`; rebuild the engine")
        }
        let graph = try ReferenceEngineFormat.decode(artifact.bytes, expected: id)
        return ReferenceRunner(graph: graph, threads: Self.threadCount(options))
    }

    static func threadCount(_ options: BuildOptions) -> Int {
        options.threads > 0 ? options.threads : ProcessInfo.processInfo.activeProcessorCount
    }
}
