import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnVideo

extension EngineFactory {
    /// How many frames the accuracy gate compares an engine on.
    public static let accuracyGateFrameCount = 3

    /// Compares a freshly prepared engine from a non-reference backend with the reference backend's
    /// outputs of the same model on `gateFrames` (the device's own source, preprocessed exactly as
    /// the engine's frames will be), with the tolerance of the precision it was built at.
    ///
    /// Returns nil for the reference backend itself (there is nothing to compare with). The reference
    /// engine goes through the same engine cache, so a fallback to it costs no second build. Without
    /// frames from the source (it ended before giving any), synthetic frames stand in, with a warning.
    public func checkAccuracy(of engine: ActiveEngine, model: ModelSource, options: BuildOptions) async throws -> AccuracyGate.Verdict? {
        let reference = ReferenceBackend()
        guard backend.name != reference.name else { return nil }
        var frames = gateFrames
        if frames.isEmpty {
            Log.warning("accuracy gate: no frames from the source to compare \(model.name) on; using synthetic frames")
            let source = SyntheticSource(width: 640, height: 360, frameLimit: Self.accuracyGateFrameCount * 7)
            var index = 0
            while let frame = try source.next() {
                if index % 7 == 0 { frames.append(frame) }
                index += 1
            }
        }
        var referenceOptions = BuildOptions(threads: options.threads)
        referenceOptions.shapeProfiles = options.shapeProfiles
        let preparer = self.preparer, spec = engine.preprocess, precision = options.precision, baselineOptions = referenceOptions
        let frameList = frames
        return try await BlockingWork.run("kiln-accuracy-gate") {
            let baseline = try preparer.prepare(model: model, backend: reference, options: baselineOptions)
            let preprocessor = CPUPreprocessor(spec: spec)
            let inputs = try frameList.map { [engine.inputName: try preprocessor.tensor(for: $0).0] }
            return try AccuracyGate(precision: precision).compare(candidate: engine.runner, reference: baseline.runner, inputs: inputs)
        }
    }
}
