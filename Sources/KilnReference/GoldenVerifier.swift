import Foundation
import KilnCore
import KilnInference
import KilnONNX
import KilnReferenceKernels

/// Checks a runner against golden data in ONNX's test_data_set format (`input_K.pb`/`output_K.pb`).
///
/// Used by `kiln verify`, the conformance sweep and the rollout gate. Float outputs are judged by
/// the verifier's `Rule`: the accuracy gate's per-precision rule (max |actual − expected| /
/// max |expected| within `AccuracyGate.Tolerance.for(precision)`: `kiln verify`'s and the
/// rollout gate's default), or ONNX's node-test rule |actual − expected| ≤ atol + rtol·|expected|
/// everywhere (NaN matches NaN). Every other type must match exactly. Inputs and outputs are
/// matched to the model's by position, as ONNX's runner does.
public struct GoldenVerifier: Sendable {
    /// How float outputs are judged.
    public enum Rule: Sendable, Equatable, CustomStringConvertible {
        /// The accuracy gate's rule for a precision: normalised error (and int8's top-1 agreement).
        case precision(Precision)
        /// ONNX's elementwise rule.
        case elementwise(rtol: Double, atol: Double)

        public var description: String {
            switch self {
            case .precision(let p):
                let t = AccuracyGate.Tolerance.for(p)
                return "the \(p.rawValue) rule (max |error| / max |expected| <= \(t.maxNormalizedError)"
                    + (t.minTopOneAgreement.map { String(format: ", top-1 agreement >= %.0f%%", $0 * 100) } ?? "") + ")"
            case .elementwise(let rtol, let atol): return "rtol \(rtol) atol \(atol)"
            }
        }
    }

    /// One set of inputs and expected outputs (one `test_data_set_N` folder).
    public struct GoldenCase: Sendable {
        /// The folder the case came from.
        public var directory: URL
        /// Input tensors in model-input order.
        public var inputs: [Tensor]
        /// Expected outputs in model-output order.
        public var outputs: [Tensor]
    }

    /// The comparison of one output.
    public struct OutputResult: Sendable {
        /// The output's name.
        public var name: String
        /// Largest absolute difference (0 for exact types that match).
        public var maxAbsoluteError: Double
        /// Largest relative difference |a − e| / |e| over elements with e ≠ 0.
        public var maxRelativeError: Double
        /// max |a − e| / max |e| (the precision rule's measure; nil for exact types).
        public var normalizedError: Double? = nil
        /// Whether the output is within tolerance.
        public var passed: Bool
        /// Why it failed (shape, type, exact mismatch), when it did.
        public var problem: String?
    }

    /// The comparison of one case.
    public struct CaseResult: Sendable {
        /// The case's folder.
        public var directory: URL
        /// Per-output results.
        public var outputs: [OutputResult]
        /// Whether every output passed.
        public var passed: Bool { outputs.allSatisfy(\.passed) }
    }

    /// How float outputs are judged.
    public var rule: Rule

    /// Creates a verifier with ONNX's elementwise rule (its defaults: rtol 1e-3, atol 1e-7).
    public init(rtol: Double = 1e-3, atol: Double = 1e-7) {
        rule = .elementwise(rtol: rtol, atol: atol)
    }

    /// Creates a verifier with the accuracy gate's rule for `precision`.
    public init(precision: Precision) {
        rule = .precision(precision)
    }

    /// Loads cases from folders holding `input_K.pb`/`output_K.pb` or `test_data_set_N/` subfolders.
    public static func loadCases(_ directories: [URL]) throws -> [GoldenCase] {
        var cases: [GoldenCase] = []
        let fm = FileManager.default
        for dir in directories {
            guard let entries = try? fm.contentsOfDirectory(atPath: dir.path) else {
                throw UsageError("golden data folder \(dir.path) cannot be read; pass a folder with input_0.pb/output_0.pb or test_data_set_N/")
            }
            let sets = entries.filter { $0.hasPrefix("test_data_set_") }.sorted { numberSuffix($0) < numberSuffix($1) }
            if !sets.isEmpty {
                for s in sets { cases.append(try loadCase(dir.appendingPathComponent(s))) }
            } else {
                cases.append(try loadCase(dir))
            }
        }
        return cases
    }

    static func numberSuffix(_ s: String) -> Int { Int(s.split(separator: "_").last ?? "") ?? 0 }

    static func loadCase(_ dir: URL) throws -> GoldenCase {
        func files(_ prefix: String) throws -> [Tensor] {
            var result: [Tensor] = []
            var k = 0
            while true {
                let url = dir.appendingPathComponent("\(prefix)_\(k).pb")
                guard FileManager.default.fileExists(atPath: url.path) else { break }
                do {
                    result.append(try ONNXReader.tensor(contentsOf: url).tensor)
                } catch {
                    throw InvalidModelError("golden tensor \(url.path): \(error.description)")
                }
                k += 1
            }
            return result
        }
        let outputs = try files("output")
        guard !outputs.isEmpty else {
            throw UsageError("golden data folder \(dir.path) has no output_0.pb; it needs input_K.pb/output_K.pb files")
        }
        return GoldenCase(directory: dir, inputs: try files("input"), outputs: outputs)
    }

    /// Runs every case through `runner` and compares the outputs.
    public func verify(runner: any InferenceRunner, cases: [GoldenCase]) throws -> [CaseResult] {
        try cases.map { c in
            guard c.inputs.count <= runner.inputs.count else {
                throw InvalidModelError("\(c.directory.path): \(c.inputs.count) inputs, the model takes \(runner.inputs.count)")
            }
            var feeds: [String: Tensor] = [:]
            for (k, t) in c.inputs.enumerated() { feeds[runner.inputs[k].name] = t }
            let produced = try runner.run(feeds)
            var results: [OutputResult] = []
            for (k, expected) in c.outputs.enumerated() {
                guard k < runner.outputs.count else {
                    results.append(OutputResult(name: "output_\(k)", maxAbsoluteError: .infinity, maxRelativeError: .infinity,
                                                passed: false, problem: "the model has only \(runner.outputs.count) outputs"))
                    continue
                }
                let name = runner.outputs[k].name
                guard let actual = produced[name] else {
                    results.append(OutputResult(name: name, maxAbsoluteError: .infinity, maxRelativeError: .infinity,
                                                passed: false, problem: "not produced"))
                    continue
                }
                results.append(compare(name: name, actual: actual, expected: expected))
            }
            return CaseResult(directory: c.directory, outputs: results)
        }
    }

    /// Compares one tensor against its expected value.
    public func compare(name: String, actual: Tensor, expected: Tensor) -> OutputResult {
        func fail(_ why: String) -> OutputResult {
            OutputResult(name: name, maxAbsoluteError: .infinity, maxRelativeError: .infinity, passed: false, problem: why)
        }
        guard actual.shape == expected.shape else { return fail("shape \(actual.shape), expected \(expected.shape)") }
        guard actual.elementType == expected.elementType else {
            return fail("type \(actual.elementType), expected \(expected.elementType)")
        }
        guard let ra = try? RTensor(actual, name: name), let re = try? RTensor(expected, name: name) else {
            return fail("element type \(expected.elementType) cannot be compared (malformed or unsupported data)")
        }
        switch expected.elementType {
        case let t where t.isFloatKind:
            let a = t == .float64 ? actual.values(as: Double.self) : ra.f.map(Double.init)
            let e = t == .float64 ? expected.values(as: Double.self) : re.f.map(Double.init)
            var maxAbs = 0.0, maxRel = 0.0, scale = 0.0
            var ok = true
            for k in 0..<min(a.count, e.count) {
                if a[k].isNaN || e[k].isNaN {
                    if !(a[k].isNaN && e[k].isNaN) { ok = false; maxAbs = .nan }
                    continue
                }
                if e[k].isFinite { scale = max(scale, abs(e[k])) }
                if a[k] == e[k] { continue }
                let d = abs(a[k] - e[k])
                if !d.isFinite { ok = false; maxAbs = .infinity; continue }
                maxAbs = max(maxAbs, d)
                if e[k] != 0 { maxRel = max(maxRel, d / abs(e[k])) }
                if case .elementwise(let rtol, let atol) = rule, d > atol + rtol * abs(e[k]) { ok = false }
            }
            let normalized = scale > 0 ? maxAbs / scale : (maxAbs == 0 ? 0 : .infinity)
            var problem = ok ? nil : "outside \(rule)"
            if case .precision(let precision) = rule, ok {
                // The accuracy gate's own judgement (normalised error, int8's top-1 agreement).
                let verdict = AccuracyGate(precision: precision).judge(names: [name], candidate: [[name: actual]], reference: [[name: expected]])
                if let o = verdict.outputs.first, !o.passed {
                    ok = false
                    problem = o.problem
                }
            }
            return OutputResult(name: name, maxAbsoluteError: maxAbs, maxRelativeError: maxRel, normalizedError: normalized,
                                passed: ok && a.count == e.count, problem: problem)
        case .string:
            let ok = actual.strings == expected.strings
            return OutputResult(name: name, maxAbsoluteError: ok ? 0 : .infinity, maxRelativeError: ok ? 0 : .infinity, passed: ok,
                                problem: ok ? nil : "strings differ")
        default:
            if ra.i == re.i {
                return OutputResult(name: name, maxAbsoluteError: 0, maxRelativeError: 0, passed: true, problem: nil)
            }
            let a = ra.floats, e = re.floats
            var maxAbs = 0.0, maxRel = 0.0
            for k in 0..<min(a.count, e.count) {
                let d = Double(abs(a[k] - e[k]))
                maxAbs = max(maxAbs, d)
                if e[k] != 0 { maxRel = max(maxRel, d / Double(abs(e[k]))) }
            }
            return OutputResult(name: name, maxAbsoluteError: maxAbs, maxRelativeError: maxRel, passed: false,
                                problem: "exact \(expected.elementType) values differ")
        }
    }
}
