import KilnInference
import KilnTensorRT
import Testing

@Suite("TensorRT version decoding")
struct TensorRTVersionTests {
    @Test("getInferLibVersion encodings of TensorRT 8 and 10 decode", arguments: [
        (8201, "8.2.1"), (8601, "8.6.1"), (8510, "8.5.10"), (100100, "10.1.0"), (100302, "10.3.2"), (101300, "10.13.0"),
    ])
    func decodes(_ encoded: Int, _ text: String) {
        #expect(TensorRTVersion(encoded: encoded).description == text)
    }

    @Test("trtexec's banner gives the version; other text gives none")
    func banner() {
        #expect(TensorRTVersion(trtexecOutput: "&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # /usr/src/tensorrt/bin/trtexec --help")
            == TensorRTVersion(major: 8, minor: 6, patch: 1))
        #expect(TensorRTVersion(trtexecOutput: "&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec --onnx=a.onnx")
            == TensorRTVersion(major: 10, minor: 3, patch: 0))
        #expect(TensorRTVersion(trtexecOutput: "trtexec: command not found") == nil)
    }

    @Test("versions order by major, minor, patch")
    func ordering() {
        #expect(TensorRTVersion(encoded: 8601) < TensorRTVersion(encoded: 100100))
        #expect(TensorRTVersion(encoded: 8601).atLeast(8, 6))
        #expect(!TensorRTVersion(encoded: 8205).atLeast(8, 4))
    }
}
