import Foundation
import KilnCore

/// Compares an engine from a non-reference backend with the reference backend's outputs of the
/// same ONNX on a few real, identically preprocessed inputs, before the engine may serve.
///
/// Each output's error is normalised by the reference output's largest magnitude
/// (max |candidate − reference| / max |reference|), so a softmax and a raw feature map are judged
/// alike and near-zero elements do not dominate. The limit depends on the precision the engine was
/// built with: fp32 is tight (TensorRT may still use TF32 on Ampere and later), fp16/bf16 looser,
/// int8 looser again and additionally held to a top-1 agreement rule on every row of the last axis
/// (a quantised classifier may move values but must keep choosing the same class).
public struct AccuracyGate: Sendable {
    /// The limits one precision is held to.
    public struct Tolerance: Sendable, Equatable, Codable {
        /// The largest allowed max |candidate − reference| / max |reference| per output.
        public var maxNormalizedError: Double
        /// The smallest allowed fraction of last-axis rows whose arg-max agrees, or nil for none.
        public var minTopOneAgreement: Double?

        /// The tolerance for engines built at `precision`.
        public static func `for`(_ precision: Precision) -> Tolerance {
            switch precision {
            case .fp32: Tolerance(maxNormalizedError: 2e-3)
            case .fp16: Tolerance(maxNormalizedError: 3e-2)
            case .bf16: Tolerance(maxNormalizedError: 6e-2)
            case .int8, .best: Tolerance(maxNormalizedError: 0.15, minTopOneAgreement: 0.9)
            }
        }
    }

    /// The comparison of one output over every input.
    public struct OutputComparison: Sendable, Codable, Equatable {
        /// The output's name.
        public var name: String
        /// Largest |candidate − reference| over every input.
        public var maxAbsoluteError: Double
        /// `maxAbsoluteError` / the reference's largest magnitude.
        public var normalizedError: Double
        /// The fraction of last-axis rows whose arg-max agrees (nil when not judged).
        public var topOneAgreement: Double?
        /// Whether the output is within the tolerance.
        public var passed: Bool
        /// Why it failed, when it did.
        public var problem: String?
    }

    /// The outcome of one gate run.
    public struct Verdict: Sendable, Codable, Equatable {
        /// The precision whose tolerance was applied.
        public var precision: Precision
        /// The tolerance applied.
        public var tolerance: Tolerance
        /// How many inputs were compared.
        public var inputs: Int
        /// One comparison per reference output.
        public var outputs: [OutputComparison]
        /// Whether every output passed.
        public var passed: Bool { !outputs.isEmpty && outputs.allSatisfy(\.passed) }

        /// `quadrant: max abs 1.2e-06, normalised 1.3e-06 (limit 2.0e-03) ok` lines, the worst first.
        public var summary: String {
            outputs.sorted { $0.normalizedError > $1.normalizedError }.map { o in
                var line = "\(o.name): max abs \(Self.format(o.maxAbsoluteError)), normalised \(Self.format(o.normalizedError))"
                    + " (limit \(Self.format(tolerance.maxNormalizedError)))"
                if let agreement = o.topOneAgreement {
                    line += String(format: ", top-1 agreement %.1f%%", agreement * 100)
                }
                return line + (o.passed ? " ok" : " FAIL: \(o.problem ?? "outside tolerance")")
            }.joined(separator: "; ")
        }

        static func format(_ v: Double) -> String { v.isFinite ? String(format: "%.2e", v) : "\(v)" }
    }

    /// The limits applied.
    public var tolerance: Tolerance
    /// The precision the candidate was built with.
    public var precision: Precision

    /// A gate for engines built at `precision`, with that precision's tolerance unless one is given.
    public init(precision: Precision, tolerance: Tolerance? = nil) {
        self.precision = precision
        self.tolerance = tolerance ?? .for(precision)
    }

    /// Runs `candidate` and `reference` on every input set and compares their outputs.
    ///
    /// Blocks (both runners run); call it off the cooperative pool.
    public func compare(candidate: any InferenceRunner, reference: any InferenceRunner,
                        inputs: [[String: Tensor]]) throws -> Verdict {
        guard !inputs.isEmpty else {
            throw RuntimeError("accuracy gate: no inputs to compare with; it needs at least one preprocessed frame")
        }
        var expected: [[String: Tensor]] = []
        var actual: [[String: Tensor]] = []
        for feed in inputs {
            expected.append(try reference.run(feed))
            actual.append(try candidate.run(feed))
        }
        return judge(names: reference.outputs.map(\.name), candidate: actual, reference: expected)
    }

    /// Compares already computed outputs (one dictionary per input) output by output.
    public func judge(names: [String], candidate: [[String: Tensor]], reference: [[String: Tensor]]) -> Verdict {
        let outputs = names.map { name in
            compareOutput(name: name, candidate: candidate.map { $0[name] }, reference: reference.map { $0[name] })
        }
        return Verdict(precision: precision, tolerance: tolerance, inputs: reference.count, outputs: outputs)
    }

    func compareOutput(name: String, candidate: [Tensor?], reference: [Tensor?]) -> OutputComparison {
        func fail(_ why: String) -> OutputComparison {
            OutputComparison(name: name, maxAbsoluteError: .infinity, normalizedError: .infinity, topOneAgreement: nil,
                             passed: false, problem: why)
        }
        var maxAbs = 0.0, scale = 0.0
        var rows = 0, agreeing = 0
        for (k, (c, r)) in zip(candidate, reference).enumerated() {
            guard let r else { return fail("the reference produced no \(name) for input \(k)") }
            guard let c else { return fail("not produced for input \(k)") }
            guard c.shape == r.shape else { return fail("shape \(c.shape), the reference's is \(r.shape) (input \(k))") }
            let a = c.floatValues(), e = r.floatValues()
            guard a.count == e.count, e.count == r.elementCount || r.elementCount == 0 else {
                return fail("element type \(c.elementType) cannot be compared with the reference's \(r.elementType)")
            }
            for i in 0..<e.count {
                let (x, y) = (Double(a[i]), Double(e[i]))
                if x.isNaN != y.isNaN || x.isInfinite != y.isInfinite {
                    return fail("element \(i) of input \(k) is \(x), the reference's is \(y)")
                }
                guard y.isFinite else { continue }
                scale = max(scale, abs(y))
                maxAbs = max(maxAbs, abs(x - y))
            }
            if tolerance.minTopOneAgreement != nil, let width = r.shape.last, width > 1, e.count % width == 0 {
                for row in stride(from: 0, to: e.count, by: width) {
                    rows += 1
                    if Self.argmax(a[row..<row + width]) == Self.argmax(e[row..<row + width]) { agreeing += 1 }
                }
            }
        }
        let normalized = scale > 0 ? maxAbs / scale : (maxAbs == 0 ? 0 : .infinity)
        let agreement: Double? = rows > 0 ? Double(agreeing) / Double(rows) : nil
        var problems: [String] = []
        if normalized > tolerance.maxNormalizedError {
            problems.append("normalised error \(Verdict.format(normalized)) exceeds \(Verdict.format(tolerance.maxNormalizedError)) for \(precision.rawValue)")
        }
        if let need = tolerance.minTopOneAgreement, let agreement, agreement < need {
            problems.append(String(format: "top-1 agrees on %.1f%% of rows, %.0f%% needed", agreement * 100, need * 100))
        }
        return OutputComparison(name: name, maxAbsoluteError: maxAbs, normalizedError: normalized, topOneAgreement: agreement,
                                passed: problems.isEmpty, problem: problems.isEmpty ? nil : problems.joined(separator: "; "))
    }

    static func argmax(_ values: ArraySlice<Float>) -> Int {
        var best = values.startIndex
        for i in values.indices where values[i] > values[best] { best = i }
        return best - values.startIndex
    }
}

/// An engine refused by the accuracy gate: its outputs differ from the reference backend's.
public struct AccuracyGateError: KilnError {
    /// The model's name (path or reference).
    public var model: String
    /// The backend that built the refused engine.
    public var backend: String
    /// The gate's verdict.
    public var verdict: AccuracyGate.Verdict

    /// Creates the error.
    public init(model: String, backend: String, verdict: AccuracyGate.Verdict) {
        self.model = model
        self.backend = backend
        self.verdict = verdict
    }

    public var description: String {
        "the \(backend) engine of \(model) (\(verdict.precision.rawValue)) differs from the reference backend's outputs on "
            + "\(verdict.inputs) frames: \(verdict.summary); the engine was refused. Rebuild it (kiln cache rm), try a higher "
            + "precision (--precision fp32), or report the model with `kiln selftest`'s tarball"
    }

    public var exitCode: ExitCode { .invalidModel }
}
