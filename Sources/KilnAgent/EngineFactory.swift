import Foundation
import KilnCore
import KilnInference
import KilnONNX
import KilnPostprocess
import KilnVideo

/// Makes a servable engine from a model: reads it, decides its preprocessing and build options,
/// prepares the engine through the cache on a dedicated thread.
///
/// The run loop uses it at start; a rollout uses the same factory for each new model, so every
/// engine is built with the same backend, profile and overrides.
public struct EngineFactory: Sendable {
    /// The backend engines are built with.
    public var backend: any InferenceBackend
    /// Build options from the device profile and the command line.
    public var options: BuildOptions
    /// Cache access.
    public var preparer: EnginePreparer
    /// `--preprocess` from the command line; wins over everything the model says.
    public var preprocessOverride: String?
    /// How many streams will feed the engine (sets the batch profile of dynamic-batch inputs).
    public var streams: Int
    /// The size of the frames served (the first source's), for inputs with dynamic height/width.
    public var sourceSize: FrameSize?
    /// The longest side a dynamic input may take from the source (the device profile's cap).
    public var inputSideCap: Int
    /// The isolated child a rollout candidate's first inferences run in (`EngineTrial`); nil runs
    /// them in this process.
    public var isolation: IsolatedChild?
    /// Frames from the device's own source that the accuracy gate compares non-reference engines on.
    public var gateFrames: [Frame] = []

    /// Creates a factory.
    public init(backend: any InferenceBackend, options: BuildOptions, preparer: EnginePreparer,
                preprocessOverride: String? = nil, streams: Int = 1, sourceSize: FrameSize? = nil, inputSideCap: Int = 960) {
        self.sourceSize = sourceSize
        self.inputSideCap = inputSideCap
        self.backend = backend
        self.options = options
        self.preparer = preparer
        self.preprocessOverride = preprocessOverride
        self.streams = streams
    }

    /// Reads `model`, prepares its engine and returns it ready for the slot.
    ///
    /// Preprocessing is, from weakest to strongest: defaults from the image input's shape and type
    /// (letterbox to its H×W, RGB, /255), the model's `kiln.preprocess` metadata, the artifact's
    /// annotation (`hint`), and `--preprocess`. The input size follows `InputSizeResolver`; the
    /// log line names the rule that chose it. `postprocess` (the artifact's settings) travels
    /// with the engine; its labels win over the model's metadata. An engine from a non-reference
    /// backend whose artifact brings no golden data (`goldenData` false) must pass `checkAccuracy`
    /// before it is returned; a mismatch throws `AccuracyGateError`.
    public func make(model: ModelSource, hint: String? = nil, postprocess: PostprocessSettings? = nil,
                     goldenData: Bool = false) async throws -> (ActiveEngine, PreparedEngine) {
        let onnx: ONNXModel
        do {
            onnx = try ONNXReader.model(model.bytes)
        } catch {
            throw InvalidModelError("model \(model.name): not a readable ONNX file: \(error)")
        }
        try onnx.checkLimits(name: "model \(model.name)", budget: .machine)
        let initializers = Set(onnx.graph.initializers.map(\.name))
        guard let input = onnx.graph.inputs.first(where: { !initializers.contains($0.name) }),
              let descriptor = input.descriptor else {
            throw InvalidModelError("model \(model.name): has no tensor input to feed frames to")
        }
        guard descriptor.shape.count == 4 else {
            throw InvalidModelError("model \(model.name): input \(descriptor.name) has shape \(descriptor.shape.map { $0.map(String.init) ?? "?" }); Kiln feeds images as [N,3,H,W]")
        }
        let size = try InputSizeResolver(input: descriptor, metadata: onnx.metadata, sourceSize: sourceSize, sideCap: inputSideCap)
            .resolve(preprocessFlag: preprocessOverride, annotation: hint, model: model.name)
        let spec = try preprocessSpec(for: descriptor, size: size, metadata: onnx.metadata["kiln.preprocess"], hint: hint, model: model.name)
        Log.info("\(model.name): input \(descriptor.name) served at \(size.text)")
        var options = options
        if options.shapeProfiles[descriptor.name] == nil, descriptor.shape.contains(where: { $0 == nil }) {
            let c = descriptor.shape[1] ?? 3
            let maxBatch = descriptor.shape[0] == nil ? max(8, streams) : descriptor.shape[0]!
            let optBatch = descriptor.shape[0] == nil ? min(streams, maxBatch) : maxBatch
            let minBatch = descriptor.shape[0] == nil ? 1 : maxBatch
            options.shapeProfiles[descriptor.name] = ShapeProfile(
                min: [minBatch, c, spec.height, spec.width], opt: [optBatch, c, spec.height, spec.width],
                max: [maxBatch, c, spec.height, spec.width])
        }
        let backend = self.backend, preparer = self.preparer, buildOptions = options
        let prepared = try await BlockingWork.run("kiln-engine") {
            try preparer.prepare(model: model, backend: backend, options: buildOptions)
        }
        var active = ActiveEngine(runner: prepared.runner, preprocess: spec, inputName: descriptor.name, model: model.name,
                                  digest: model.digest, backend: backend.name, precision: options.precision,
                                  engineKey: prepared.key, maxBatch: options.shapeProfiles[descriptor.name]?.max.first ?? 1)
        active.inputSize = size
        active.labels = postprocess?.labels ?? ModelLabels.ultralytics(onnx.metadata) ?? []
        active.postprocess = postprocess
        if !goldenData, let verdict = try await checkAccuracy(of: active, model: model, options: prepared.options) {
            guard verdict.passed else { throw AccuracyGateError(model: model.name, backend: backend.name, verdict: verdict) }
            Log.info("accuracy gate: the \(backend.name) engine of \(model.name) matches the reference backend on \(verdict.inputs) frames: \(verdict.summary)")
        }
        return (active, prepared)
    }

    /// The preprocessing for an image input of the resolved `size`, layered as `make` describes.
    public func preprocessSpec(for input: TensorDescriptor, size: InputSize, metadata: String?, hint: String?,
                               model: String) throws -> PreprocessSpec {
        var spec = PreprocessSpec(width: size.width, height: size.height)
        if input.elementType == .float16 { spec.outputType = .float16 }
        for (text, origin) in [(metadata, "model metadata kiln.preprocess"), (hint, "artifact annotation"), (preprocessOverride, "--preprocess")] {
            guard let text, !text.isEmpty else { continue }
            do {
                spec = try PreprocessSpec(parsing: text, base: spec)
            } catch {
                throw UsageError("\(model): \(origin): \(error)")
            }
        }
        (spec.width, spec.height) = (size.width, size.height)
        if let h = input.shape[2], let w = input.shape[3], (h, w) != (spec.height, spec.width) {
            throw UsageError("\(model): preprocessing makes \(spec.width)x\(spec.height) but input \(input.name) is \(w)x\(h); fix --preprocess")
        }
        return spec
    }
}
