import KilnCore
import Testing

@Suite struct EngineCacheKeyTests {
    static let model = "sha256:" + SHA256.hex("model")
    static let trt = BackendIdentity(backend: "tensorrt", fields: [
        "tensorrt": "10.3.0", "cuda": "12.6", "sm": "8.7", "device": "Orin",
    ])
    static let options = BuildOptions(
        precision: .fp16, workspaceBytes: 512 << 20, shapeProfiles: ["images": ShapeProfile(fixed: [1, 3, 640, 640])],
        dlaCore: nil, optimizationLevel: 3, timingCachePath: "/tmp/a.timing",
        tacticSources: TacticSources(cublas: false, cublasLt: false, cudnn: false), threads: 2)
    static let base = EngineCacheKey(modelDigest: model, identity: trt, options: options).digest

    @Test func keyIsA64CharacterHexDigestOfTheCanonicalText() {
        let key = EngineCacheKey(modelDigest: Self.model, identity: Self.trt, options: Self.options)
        #expect(key.digest.count == 64)
        #expect(key.digest == SHA256.hex(key.canonicalText))
        #expect(key.canonicalText.contains("identity.sm=8.7\n"))
        #expect(key.canonicalText.contains("option.precision=fp16\n"))
        // Bare hex and the sha256: form are the same model.
        #expect(EngineCacheKey(modelDigest: SHA256.hex("model"), identity: Self.trt, options: Self.options).digest == Self.base)
    }

    @Test func keyChangesWhenAnyKeyFieldChanges() {
        func key(model: String = Self.model, identity: BackendIdentity = Self.trt, _ change: (inout BuildOptions) -> Void = { _ in }) -> String {
            var o = Self.options
            change(&o)
            return EngineCacheKey(modelDigest: model, identity: identity, options: o).digest
        }
        var variants: [String: String] = [:]
        variants["model"] = key(model: "sha256:" + SHA256.hex("other model"))
        for field in Self.trt.fields.keys {
            var id = Self.trt
            id.fields[field] = id.fields[field]! + ".1"
            variants["identity.\(field)"] = key(identity: id)
        }
        var extra = Self.trt
        extra.fields["jetpack"] = "6.2"
        variants["identity.new-field"] = key(identity: extra)
        variants["backend"] = key(identity: BackendIdentity(backend: "reference", fields: Self.trt.fields))
        for p in Precision.allCases where p != .fp16 { variants["precision.\(p)"] = key { $0.precision = p } }
        variants["shape"] = key { $0.shapeProfiles["images"] = ShapeProfile(fixed: [1, 3, 320, 320]) }
        variants["dynamic shape"] = key {
            $0.shapeProfiles["images"] = ShapeProfile(min: [1, 3, 640, 640], opt: [4, 3, 640, 640], max: [8, 3, 640, 640])
        }
        variants["second input"] = key { $0.shapeProfiles["mask"] = ShapeProfile(fixed: [1]) }
        variants["dla"] = key { $0.dlaCore = 0 }
        variants["dla1"] = key { $0.dlaCore = 1 }
        variants["level"] = key { $0.optimizationLevel = 5 }
        variants["tactics"] = key { $0.tacticSources = TacticSources(cublas: true, cublasLt: false, cudnn: false) }
        variants["tactics default"] = key { $0.tacticSources = nil }
        variants["calibration"] = key { $0.calibrationDigest = SHA256.hex("calib") }
        for (name, digest) in variants { #expect(digest != Self.base, "changing \(name) must change the key") }
        #expect(Set(variants.values).count == variants.count, "every variant gives a distinct key")
    }

    /// The calibration cache's path is not in the key either, but its content is (see KilnTensorRTTests).
    @Test func keyIgnoresWorkspaceTimingCacheAndThreads() {
        var o = Self.options
        o.workspaceBytes = 64 << 20
        o.timingCachePath = "/var/cache/kiln/timing/x.timing"
        o.threads = 16
        #expect(EngineCacheKey(modelDigest: Self.model, identity: Self.trt, options: o).digest == Self.base)
    }

    @Test func fieldValuesCannotForgeAnotherKeysText() {
        let a = BackendIdentity(backend: "x", fields: ["a": "1\nidentity.b=2"])
        let b = BackendIdentity(backend: "x", fields: ["a": "1", "b": "2"])
        #expect(EngineCacheKey(modelDigest: Self.model, identity: a, optionFields: [:]).digest
            != EngineCacheKey(modelDigest: Self.model, identity: b, optionFields: [:]).digest)
    }
}
