import Foundation
import KilnCore
import KilnPostprocess

/// Kiln's deployment metadata carried in a model artifact's manifest annotations.
///
/// Every field is optional; absent fields fall back to the device profile's defaults.
public struct KilnAnnotations: Sendable, Codable, Equatable {
    /// Preprocessing description for the run loop (`--preprocess`), free text.
    public var preprocess: String?
    /// Optimization profiles for dynamic inputs.
    public var shapeProfiles: [String: ShapeProfile]?
    /// The precision policy.
    public var precision: Precision?
    /// The latency SLO: p99 milliseconds the device must meet in the gate.
    public var sloP99Milliseconds: Double?
    /// The share of the fleet (0–100) that takes this artifact; nil means everyone.
    public var rolloutPercentage: Double?
    /// The rollout's identifier for cohort hashing; defaults to the manifest digest.
    public var rolloutID: String?
    /// Golden-data tolerance override, relative and absolute.
    public var goldenTolerance: GoldenTolerance?
    /// Postprocessing shipped with the model: method, thresholds, class filter and labels.
    public var postprocess: PostprocessSettings?

    /// Relative and absolute tolerance for comparing outputs with golden data.
    public struct GoldenTolerance: Sendable, Codable, Equatable {
        /// Relative tolerance.
        public var rtol: Double
        /// Absolute tolerance.
        public var atol: Double

        /// Parses `RTOL,ATOL` (the annotation's and `kiln publish --tolerance`'s text); nil unless it
        /// is exactly two numbers.
        public static func parse(_ text: String) -> GoldenTolerance? {
            let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            guard parts.count == 2, let rtol = Double(parts[0]), let atol = Double(parts[1]) else { return nil }
            return GoldenTolerance(rtol: rtol, atol: atol)
        }
    }

    /// Creates annotations.
    public init(preprocess: String? = nil, shapeProfiles: [String: ShapeProfile]? = nil, precision: Precision? = nil,
                sloP99Milliseconds: Double? = nil, rolloutPercentage: Double? = nil, rolloutID: String? = nil,
                goldenTolerance: GoldenTolerance? = nil) {
        self.preprocess = preprocess
        self.shapeProfiles = shapeProfiles
        self.precision = precision
        self.sloP99Milliseconds = sloP99Milliseconds
        self.rolloutPercentage = rolloutPercentage
        self.rolloutID = rolloutID
        self.goldenTolerance = goldenTolerance
    }

    /// The manifest annotations encoding these fields (string values, JSON where structured).
    public func manifestAnnotations() throws -> [String: String] {
        var a: [String: String] = [:]
        if let preprocess { a[AnnotationKeys.preprocess] = preprocess }
        if let shapeProfiles {
            a[AnnotationKeys.shapeProfiles] = String(decoding: try CanonicalJSON.encode(shapeProfiles), as: UTF8.self)
        }
        if let precision { a[AnnotationKeys.precision] = precision.rawValue }
        if let sloP99Milliseconds { a[AnnotationKeys.sloP99] = Self.number(sloP99Milliseconds) }
        if let rolloutPercentage { a[AnnotationKeys.rolloutPercentage] = Self.number(rolloutPercentage) }
        if let rolloutID { a[AnnotationKeys.rolloutID] = rolloutID }
        if let t = goldenTolerance { a[AnnotationKeys.goldenTolerance] = "\(t.rtol),\(t.atol)" }
        if let postprocess, !postprocess.isEmpty {
            a[AnnotationKeys.postprocess] = String(decoding: try CanonicalJSON.encode(postprocess), as: UTF8.self)
        }
        return a
    }

    /// Reads the fields from manifest annotations; a malformed value is an `invalidArtifact`
    /// error naming the key and `source`.
    public init(annotations: [String: String], source: String) throws {
        func bad(_ key: String, _ expected: String) -> RegistryError {
            RegistryError(.invalidArtifact, "artifact \(source): annotation \(key)=\(annotations[key] ?? "") is invalid; expected \(expected)")
        }
        self.init()
        preprocess = annotations[AnnotationKeys.preprocess]
        if let text = annotations[AnnotationKeys.shapeProfiles] {
            do { shapeProfiles = try JSONDecoder().decode([String: ShapeProfile].self, from: Data(text.utf8)) } catch {
                throw bad(AnnotationKeys.shapeProfiles, #"JSON {"input":{"min":[…],"opt":[…],"max":[…]}}"#)
            }
        }
        if let text = annotations[AnnotationKeys.precision] {
            guard let p = Precision(rawValue: text) else { throw bad(AnnotationKeys.precision, "one of fp32 fp16 int8 bf16 best") }
            precision = p
        }
        if let text = annotations[AnnotationKeys.sloP99] {
            guard let v = Double(text), v > 0 else { throw bad(AnnotationKeys.sloP99, "a positive number of milliseconds") }
            sloP99Milliseconds = v
        }
        if let text = annotations[AnnotationKeys.rolloutPercentage] {
            guard let v = Double(text), (0...100).contains(v) else { throw bad(AnnotationKeys.rolloutPercentage, "a number from 0 to 100") }
            rolloutPercentage = v
        }
        rolloutID = annotations[AnnotationKeys.rolloutID]
        if let text = annotations[AnnotationKeys.goldenTolerance] {
            guard let tolerance = GoldenTolerance.parse(text) else { throw bad(AnnotationKeys.goldenTolerance, "RTOL,ATOL") }
            goldenTolerance = tolerance
        }
        if let text = annotations[AnnotationKeys.postprocess] {
            let expected = #"JSON {"method":"yolo","conf":0.3,"iou":0.6,"max_det":100,"classes":[0],"agnostic_nms":false,"labels":["person"]}"#
            do { postprocess = try JSONDecoder().decode(PostprocessSettings.self, from: Data(text.utf8)) } catch {
                throw bad(AnnotationKeys.postprocess, expected)
            }
            do { try postprocess?.validate(source: "artifact \(source)") } catch { throw bad(AnnotationKeys.postprocess, expected + " (\(error))") }
        }
    }

    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}
