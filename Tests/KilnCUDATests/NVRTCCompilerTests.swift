import Foundation
@testable import KilnCUDA
import KilnTestSupport
import Testing

@Suite("NVRTC kernel compilation and the cubin cache")
struct NVRTCCompilerTests {
    @Test("the preprocessing kernels compile for Orin (sm_87) and Hopper (sm_90), and the second compile is a cache hit")
    func compilesAndCaches() throws {
        guard let nvrtc = try GPUProbe.wheelNVRTC() else { return }
        let dir = try TestEnvironment.temporaryDirectory("kiln-cubin")
        defer { try? FileManager.default.removeItem(at: dir) }
        let compiler = try NVRTCCompiler(cache: CubinCache(directory: dir), libraryPath: nvrtc)
        for sm in ["87", "90"] {
            let first = try compiler.compile(source: PreprocessKernelSource.source, name: "kiln_preprocess.cu", sm: sm, options: ["--fmad=false"])
            #expect(!first.fromCache)
            #expect(first.kind == "cubin")
            #expect(Array(first.image.prefix(4)) == [0x7F, 0x45, 0x4C, 0x46], "a cubin is an ELF image")
            let text = String(decoding: first.image, as: UTF8.self)
            for half in [false, true] {
                for px in [1, 2] { #expect(text.contains(PreprocessKernelSource.kernelName(half: half, pixelsPerThread: px))) }
            }
            let second = try compiler.compile(source: PreprocessKernelSource.source, name: "kiln_preprocess.cu", sm: sm, options: ["--fmad=false"])
            #expect(second.fromCache)
            #expect(second.key == first.key)
            #expect(second.image == first.image)
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".cubin") }
        #expect(files.count == 2)
        #expect(!files.contains { $0.hasPrefix(".") }, "no temporary files are left behind")
    }

    @Test("the cache key changes with the NVRTC version, the SM, the options and the source")
    func cacheKeyComposition() {
        let base = NVRTCCompiler.cacheKey(source: "a", options: ["-x"], sm: "90", nvrtcVersion: (13, 0))
        #expect(base == NVRTCCompiler.cacheKey(source: "a", options: ["-x"], sm: "90", nvrtcVersion: (13, 0)))
        #expect(base != NVRTCCompiler.cacheKey(source: "a", options: ["-x"], sm: "90", nvrtcVersion: (13, 1)))
        #expect(base != NVRTCCompiler.cacheKey(source: "a", options: ["-x"], sm: "87", nvrtcVersion: (13, 0)))
        #expect(base != NVRTCCompiler.cacheKey(source: "a", options: ["-y"], sm: "90", nvrtcVersion: (13, 0)))
        #expect(base != NVRTCCompiler.cacheKey(source: "b", options: ["-x"], sm: "90", nvrtcVersion: (13, 0)))
    }

    @Test("a kernel with a syntax error is reported with NVRTC's log and the target")
    func compileErrorCarriesLog() throws {
        guard let nvrtc = try GPUProbe.wheelNVRTC() else { return }
        let compiler = try NVRTCCompiler(cache: nil, libraryPath: nvrtc)
        let error = #expect(throws: CUDAError.self) {
            _ = try compiler.compile(source: "extern \"C\" __global__ void k() { undeclared_thing(); }", name: "broken.cu", sm: "90")
        }
        guard case .compilation(let program, let target, let log)? = error else {
            Issue.record("expected a compilation error, got \(String(describing: error))")
            return
        }
        #expect(program == "broken.cu")
        #expect(target.contains("sm_90"))
        #expect(log.contains("undeclared_thing"))
    }
}
