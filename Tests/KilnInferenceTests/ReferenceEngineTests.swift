import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnONNX
@testable import KilnReferenceKernels
import KilnTestSupport
import Testing

/// The reference backend's engine file: round trip, identity binding, corruption and truncation.
@Suite("Reference engine file")
struct ReferenceEngineTests {
    /// A small Conv → BatchNormalization → Relu → GlobalAveragePool → Flatten → Gemm model.
    static func smallModel() -> [UInt8] {
        var b = ONNXGraphBuilder(name: "small")
        let x = b.input("x", .float32, [1, 3, 8, 8])
        let w = b.initializer("w", shape: [4, 3, 3, 3], floats: (0..<108).map { Float($0 % 7) * 0.1 - 0.3 })
        let conv = b.node("Conv", [x, w], attributes: ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1])])
        let bn = b.node("BatchNormalization", [
            conv, b.initializer("s", shape: [4], floats: [1, 2, 0.5, 1]), b.initializer("b", shape: [4], floats: [0, 0.1, -0.1, 0.2]),
            b.initializer("m", shape: [4], floats: [0.1, 0, 0.2, -0.1]), b.initializer("v", shape: [4], floats: [1, 0.5, 2, 1]),
        ])
        let relu = b.node("Relu", [bn])
        let gap = b.node("Flatten", [b.node("GlobalAveragePool", [relu])])
        let fc = b.initializer("fc", shape: [4, 2], floats: [1, -1, 0.5, 0.25, -0.5, 2, 1, 1])
        _ = b.node("Gemm", [gap, fc], output: "y")
        b.output("y", .float32, [1, 2])
        return ONNXWriter.serialize(b.model(opset: 17))
    }

    static let input = Tensor(shape: [1, 3, 8, 8], floats: (0..<192).map { Float($0 % 11) / 11 - 0.4 })

    func build() throws -> EngineArtifact {
        try ReferenceBackend().build(model: ModelSource(bytes: Self.smallModel(), name: "small.onnx"), options: BuildOptions(threads: 1))
    }

    @Test("an engine round-trips through its bytes and gives the same result for any thread count")
    func roundTripAndThreadCounts() throws {
        let artifact = try build()
        #expect(artifact.identity.backend == "reference")
        #expect(artifact.identity.fields["cpu"] != nil)
        let one = try ReferenceBackend().load(artifact, options: BuildOptions(threads: 1)).run(["x": Self.input])["y"]!
        let two = try ReferenceBackend().load(artifact, options: BuildOptions(threads: 2)).run(["x": Self.input])["y"]!
        #expect(one.shape == [1, 2])
        #expect(one.floatValues() == two.floatValues())
        // Independent check of the folded/fused engine: the same graph evaluated by hand.
        let v = Self.input.floatValues()
        var pooled = [Float](repeating: 0, count: 4)
        let w = (0..<108).map { Float($0 % 7) * 0.1 - 0.3 }
        let (s, bb, m, va): ([Float], [Float], [Float], [Float]) = ([1, 2, 0.5, 1], [0, 0.1, -0.1, 0.2], [0.1, 0, 0.2, -0.1], [1, 0.5, 2, 1])
        for o in 0..<4 {
            for y in 0..<8 {
                for xx in 0..<8 {
                    var acc: Float = 0
                    for c in 0..<3 { for ky in 0..<3 { for kx in 0..<3 {
                        let iy = y + ky - 1, ix = xx + kx - 1
                        if iy >= 0 && iy < 8 && ix >= 0 && ix < 8 { acc += v[c * 64 + iy * 8 + ix] * w[((o * 3 + c) * 3 + ky) * 3 + kx] }
                    } } }
                    let bn = (acc - m[o]) / (va[o] + 1e-5).squareRoot() * s[o] + bb[o]
                    pooled[o] += max(bn, 0) / 64
                }
            }
        }
        let fc: [Float] = [1, -1, 0.5, 0.25, -0.5, 2, 1, 1]
        let expected = (0..<2).map { j in (0..<4).reduce(Float(0)) { $0 + pooled[$1] * fc[$1 * 2 + j] } }
        for (a, e) in zip(one.floatValues(), expected) { #expect(abs(a - e) <= 1e-5 + 1e-4 * abs(e)) }
    }

    /// `Tests/run.sh` builds the suite a second time with `KILN_PORTABLE_KERNELS=1`: the kernels'
    /// portable path (aarch64's) must then really be the one compiled, and engines must say so.
    @Test("the kernels compiled are the ones the build asked for (portable or AVX2)")
    func compiledInstructionSetIsTheRequestedOne() throws {
        let cpu = try ReferenceBackend().identity().fields["cpu"]
        if ProcessInfo.processInfo.environment["KILN_PORTABLE_KERNELS"] == "1" {
            #expect(cpu == "portable simd")
        } else {
            #if arch(x86_64)
                #expect(cpu == "x86-64 avx2+fma")
            #elseif arch(arm64)
                #expect(cpu == "aarch64 neon")
            #endif
        }
    }

    @Test("an engine built for another CPU instruction set or backend version is refused")
    func mismatchedIdentityIsRefused() throws {
        var artifact = try build()
        artifact.identity.fields["cpu"] = artifact.identity.fields["cpu"] == "aarch64 neon" ? "x86-64 avx2+fma" : "aarch64 neon"
        #expect(throws: InvalidModelError.self) { try ReferenceBackend().load(artifact, options: BuildOptions()) }
        // The identity recorded inside the bytes is checked too, not just the artifact's label.
        var patched = try build()
        let id = Array(try ReferenceBackend().identity().description.utf8)
        let start = try #require((0..<patched.bytes.count - id.count).first { Array(patched.bytes[$0..<$0 + id.count]) == id })
        patched.bytes[start + id.count - 1] ^= 0x01
        let error = #expect(throws: InvalidModelError.self) { try ReferenceBackend().load(patched, options: BuildOptions()) }
        #expect(error?.description.contains("rebuild") == true)
    }

    @Test("an engine of an older format version is refused naming the fix, and the cache builds a current one for its model")
    func olderFormatVersionIsRebuiltNeverMisread() throws {
        let backend = ReferenceBackend()
        let current = try build()
        #expect(current.identity.fields["format"] == String(ReferenceEngineFormat.version))
        // Format 1 stored the fusion as attributes `packed`, `weight_shape`, `activation`: such
        // bytes must never be read as format 2. The version field follows the 8-byte magic.
        var old = current
        old.bytes.replaceSubrange(8..<12, with: [1, 0, 0, 0])
        old.identity.fields["format"] = "1"
        let error = #expect(throws: InvalidModelError.self) { try backend.load(old, options: BuildOptions()) }
        #expect(error?.description.contains("rebuild") == true)
        var relabelled = old
        relabelled.identity = current.identity
        let versionError = #expect(throws: InvalidModelError.self) { try backend.load(relabelled, options: BuildOptions()) }
        #expect(versionError?.description.contains("format version 1, this build reads \(ReferenceEngineFormat.version)") == true)
        // The format is part of the identity, so the cache key of a cached format-1 engine is not
        // the current key: the lookup misses and builds a current engine, which runs.
        let dir = try TestEnvironment.temporaryDirectory("kiln-reference-format")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = EngineCache(directory: dir.path)
        let digest = SHA256.hex(Self.smallModel())
        _ = try cache.lookupOrBuild(key: EngineCacheKey(modelDigest: digest, identity: old.identity, options: BuildOptions())) { old }
        let (artifact, outcome) = try cache.lookupOrBuild(
            key: EngineCacheKey(modelDigest: digest, identity: try backend.identity(), options: BuildOptions())) { try build() }
        #expect(outcome == .miss)
        #expect(artifact.bytes == current.bytes)
        #expect(try backend.load(artifact, options: BuildOptions(threads: 1)).run(["x": Self.input])["y"]?.shape == [1, 2])
    }

    @Test("the optimizer's fusions are typed in the engine: packed convolutions and their activations survive a round trip")
    func fusionsRoundTripTyped() throws {
        let artifact = try build()
        let graph = try ReferenceEngineFormat.decode(artifact.bytes, expected: artifact.identity)
        let convs = graph.nodes.filter { $0.op.isConvolution }
        #expect(convs.count == 1)
        let conv = try #require(convs.first)
        #expect(conv.op == .kilnConv)
        #expect(conv.fusion.activation == .relu)
        #expect(conv.fusion.packedWeights?.shape == [4, 3, 3, 3])
        #expect(!graph.nodes.contains { $0.op == .batchNormalization || $0.op == .relu })
        // The model's attribute names stay the model's; none of Kiln's own names appear among them.
        #expect(graph.nodes.allSatisfy { Set($0.attributes.keys).isDisjoint(with: ["packed", "weight_shape", "activation", "act_alpha", "act_beta"]) })
        let again = ReferenceEngineFormat.encode(graph, identity: artifact.identity)
        #expect(again == artifact.bytes)
    }

    @Test("a model that names one of Kiln's own ops is refused at build like any unsupported op")
    func kilnOwnOpInAModelIsRefused() throws {
        var b = ONNXGraphBuilder(name: "own")
        let x = b.input("x", .float32, [1, 1, 4, 4])
        let w = b.initializer("w", shape: [1, 1, 1, 1], floats: [1])
        _ = b.node("KilnConv", [x, w], output: "y", name: "k1")
        b.output("y", .float32, [1, 1, 4, 4])
        let bytes = ONNXWriter.serialize(b.model(opset: 17))
        let error = #expect(throws: InvalidModelError.self) {
            try ReferenceBackend().build(model: ModelSource(bytes: bytes, name: "own.onnx"), options: BuildOptions())
        }
        #expect(error?.description.contains("KilnConv at node k1") == true)
        #expect(ReferenceOp(onnx: "KilnConv") == nil && ReferenceOp(onnx: "Conv") == .conv)
        #expect(!ReferenceBackend.supportedOps.contains("KilnConv"))
    }

    @Test("corrupt or truncated engine bytes are refused with InvalidModelError, never a crash")
    func corruptAndTruncatedEnginesAreRefused() throws {
        let artifact = try build()
        let backend = ReferenceBackend()
        // Every truncation in the header, then a spread of lengths through the payload.
        let lengths = Array(0..<min(200, artifact.bytes.count)) + stride(from: 200, to: artifact.bytes.count, by: 97)
        for n in lengths {
            var cut = artifact
            cut.bytes = Array(artifact.bytes[0..<n])
            #expect(throws: InvalidModelError.self) { try backend.load(cut, options: BuildOptions()) }
        }
        // Deterministic random byte corruptions anywhere in the file.
        var seed: UInt64 = 42
        for _ in 0..<500 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            var bad = artifact
            let at = Int(seed >> 33) % bad.bytes.count
            bad.bytes[at] ^= UInt8(truncatingIfNeeded: (seed >> 20) | 1)
            #expect(throws: InvalidModelError.self) { try backend.load(bad, options: BuildOptions()) }
        }
    }

    @Test("a model with an unsupported op is refused at build, naming the op and node")
    func unsupportedOpIsNamed() throws {
        var b = ONNXGraphBuilder(name: "bad")
        let x = b.input("x", .float32, [2])
        _ = b.node("Hardmax", [x], output: "y", name: "n12")
        b.output("y", .float32, [2])
        let bytes = ONNXWriter.serialize(b.model(opset: 17))
        let error = #expect(throws: InvalidModelError.self) {
            try ReferenceBackend().build(model: ModelSource(bytes: bytes, name: "bad.onnx"), options: BuildOptions())
        }
        #expect(error?.description.contains("Hardmax at node n12") == true)
        #expect(ReferenceBackend.unsupportedNodes(try ONNXReader.model(bytes)).map(\.opType) == ["Hardmax"])
    }

    @Test("inputs of the wrong shape or name are refused with a message naming the input")
    func wrongInputsAreRefused() throws {
        let runner = try ReferenceBackend().load(try build(), options: BuildOptions())
        #expect(runner.inputs.map(\.name) == ["x"])
        #expect(throws: InvalidModelError.self) { try runner.run(["x": Tensor(shape: [1, 3, 4, 4], floats: Array(repeating: 0, count: 48))]) }
        #expect(throws: InvalidModelError.self) { try runner.run(["z": Self.input]) }
    }
}
