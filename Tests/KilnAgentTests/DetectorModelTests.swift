import Foundation
import KilnAgent
import KilnCore
import KilnTestSupport
import Testing

/// Real detectors and recognisers from PyPI wheels (see Tests/provision/60-detect.sh), served
/// by `kiln run` as a user runs them.
@Suite struct DetectorModelTests {
    /// ddddocr's YOLOX head `[1, 3549, 6]` (raw grid boxes, objectness, one class), fed BGR 0–255.
    static let ddddocrPreprocess = "bgr,mean=0/0/0,std=0.00392156862745098/0.00392156862745098/0.00392156862745098,pad=114"

    /// The numpy oracle: writes the frames (two scikit-image pictures and a bikes.mp4 frame, all
    /// 416x416 RGB) and prints, per frame, onnxruntime's head decoded and NMSed in numpy.
    static let oracle = #"""
    import json, subprocess, sys
    import numpy as np, onnxruntime as ort
    from skimage import data, transform
    model, frames_path, ffmpeg, clip, conf, iou = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6])
    S = 416
    def rgb(img):
        img = np.asarray(img)
        if img.ndim == 2: img = np.stack([img] * 3, -1)
        img = transform.resize(img[..., :3], (S, S), order=1, preserve_range=True, anti_aliasing=False)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)
    video = subprocess.run([ffmpeg, "-loglevel", "error", "-i", clip, "-frames:v", "1", "-vf", f"scale={S}:{S}",
                            "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    frames = [rgb(data.page()), rgb(data.text()), np.frombuffer(video, np.uint8).reshape(S, S, 3)]
    with open(frames_path, "wb") as f:
        for fr in frames: f.write(fr.tobytes())
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    out = []
    for fr in frames:
        x = fr[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32)   # BGR, 0-255, as ddddocr feeds it
        head = sess.run(None, {sess.get_inputs()[0].name: x})[0][0]
        grids, strides = [], []
        for s in (8, 16, 32):
            n = S // s
            gy, gx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            grids.append(np.stack([gx.ravel(), gy.ravel()], 1)); strides.append(np.full((n * n, 1), s))
        g, st = np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)
        xy = (head[:, :2] + g) * st; wh = np.exp(head[:, 2:4]) * st
        scores = head[:, 4] * head[:, 5]
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1)
        mask = (head[:, 4] >= conf) & (scores >= conf)
        b, sc = boxes[mask], scores[mask]
        area = lambda j: max(0, b[j, 2] - b[j, 0]) * max(0, b[j, 3] - b[j, 1])
        kept = []
        for i in np.argsort(-sc, kind="stable"):
            ok = True
            for k in kept:
                w = min(b[i, 2], b[k, 2]) - max(b[i, 0], b[k, 0]); h = min(b[i, 3], b[k, 3]) - max(b[i, 1], b[k, 1])
                if w > 0 and h > 0 and w * h / (area(i) + area(k) - w * h) > iou: ok = False; break
            if ok: kept.append(i)
        b = np.clip(b, 0, S)   # boxes end inside the frame
        out.append([{"score": float(sc[i]), "box": [float(v) for v in b[i]]} for i in kept])
    print(json.dumps(out))
    """#

    struct Fixture {
        var dir: URL
        var model: URL
        var frames: URL
        var expected: [[[String: Any]]]
    }

    static func fixture(conf: Double, iou: Double) throws -> Fixture? {
        guard let python = try TestEnvironment.pythonTool(), let ffmpeg = try TestEnvironment.tool("ffmpeg"),
              let model = try TestEnvironment.dataFile("models/common_det.onnx"),
              let clip = try TestEnvironment.dataFile("video/bikes.mp4") else { return nil }
        let dir = try TestEnvironment.temporaryDirectory()
        let frames = dir.appendingPathComponent("frames.rgb")
        let r = try TestEnvironment.run(python, ["-c", oracle, model.path, frames.path, ffmpeg, clip.path, "\(conf)", "\(iou)"])
        try #require(r.status == 0, "\(r.stderr)")
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[[String: Any]]])
        return Fixture(dir: dir, model: model, frames: frames, expected: expected)
    }

    static func kiln(_ f: Fixture, _ extra: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try TestEnvironment.run(TestEnvironment.kilnExecutable, [
            "run", f.model.path, "--source", "raw:\(f.frames.path):416x416", "--backend", "reference",
            "--report-interval", "0", "--cache-dir", f.dir.appendingPathComponent("cache").path,
        ] + extra)
    }

    @Test func yoloxBoxesEqualOnnxruntimeWithAnIndependentNumpyDecode() throws {
        guard let f = try Self.fixture(conf: 0.1, iou: 0.45) else { return }
        defer { try? FileManager.default.removeItem(at: f.dir) }
        #expect(f.expected.map(\.count).reduce(0, +) > 20, "the frames must hold detections to compare")
        let results = f.dir.appendingPathComponent("results.jsonl")
        let r = try Self.kiln(f, ["--postprocess", "yolo", "--preprocess", Self.ddddocrPreprocess, "--conf", "0.1", "--iou", "0.45",
                                  "--agnostic-nms", "--results", "file:\(results.path)", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOf: results, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == f.expected.count)
        for (line, expected) in zip(lines, f.expected) {
            let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let got = (result["detections"] as? [[String: Any]]) ?? []
            #expect(got.count == expected.count, "frame \(result["frame"] ?? "?"): kiln \(got.count) boxes, numpy \(expected.count)")
            for (g, e) in zip(got, expected) {
                let gb = (g["box"] as? [Double]) ?? [], eb = (e["box"] as? [Double]) ?? []
                let score = (g["score"] as? Double ?? -1) - (e["score"] as? Double ?? 1)
                #expect(abs(score) < 1e-3, "\(g) vs \(e)")
                #expect(gb.count == 4 && zip(gb, eb).allSatisfy { abs($0 - $1) < 0.05 }, "\(g) vs \(e)")
            }
        }
    }

    @Test func aWrongFlavourOrLabelCountIsRefusedWithExitThree() throws {
        guard let f = try Self.fixture(conf: 0.25, iou: 0.7) else { return }
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let wrongLayout = try Self.kiln(f, ["--postprocess", "yolov8", "--preprocess", Self.ddddocrPreprocess])
        #expect(wrongLayout.status == 3, "\(wrongLayout.stderr)")
        #expect(wrongLayout.stderr.contains("expected [N, 4+C, B] (v8/v11)"), "\(wrongLayout.stderr)")
        let labels = f.dir.appendingPathComponent("coco.txt")
        try (0..<80).map { "class\($0)" }.joined(separator: "\n").write(to: labels, atomically: true, encoding: .utf8)
        let wrongLabels = try Self.kiln(f, ["--postprocess", "yolo", "--labels", labels.path, "--preprocess", Self.ddddocrPreprocess])
        #expect(wrongLabels.status == 3, "\(wrongLabels.stderr)")
        #expect(wrongLabels.stderr.contains("for 80 classes"), "\(wrongLabels.stderr)")
        // Same row width as v5, but one candidate per grid cell, not three: a YOLOX head.
        let v5 = try Self.kiln(f, ["--postprocess", "yolov5", "--preprocess", Self.ddddocrPreprocess])
        #expect(v5.status == 3, "\(v5.stderr)")
        #expect(v5.stderr.contains("a YOLOX head"), "\(v5.stderr)")
    }

    @Test func ppOCRv4RecogniserRunsAtItsHeightWithTheSourceAspect() throws {
        guard let model = try TestEnvironment.dataFile("models/ch_PP-OCRv4_rec_infer.onnx") else { return }
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("cache").path
        // A size the model cannot take (its neck reshapes to height 1) stops the run at once, exit 3,
        // naming the size and the fix, instead of failing every frame and exiting 0.
        let square = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
            "run", model.path, "--source", "synthetic:320x48", "--frames", "20", "--report-interval", "0", "--backend", "reference",
            "--preprocess", "320x96", "--cache-dir", cache,
        ])
        #expect(square.status == 3, "\(square.stderr)")
        #expect(square.stderr.contains("failed on its first frame with input x at 320x96 (--preprocess)"), "\(square.stderr)")
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
            "run", model.path, "--source", "synthetic:640x96", "--frames", "3", "--report-interval", "0", "--backend", "reference",
            "--preprocess", "stretch,bgr,height=48,mean=0.5/0.5/0.5,std=0.5/0.5/0.5", "--json", "--cache-dir", cache,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let json = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "\(r.stdout)")
        #expect(json["frames"] as? Int == 3)
        #expect(json["dropped"] as? Int == 0)
        let input = try #require(json["input"] as? [String: Any])
        #expect(input["height"] as? Int == 48)
        #expect(input["width"] as? Int == 320)   // 48 · 640/96 = 320
    }
}
