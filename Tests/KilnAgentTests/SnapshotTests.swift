import Foundation
import Glibc
import KilnAgent
import KilnTestSupport
import KilnVideo
import Testing

/// What the device sees, checked by an independent decoder: `kiln run` with ddddocr's real YOLOX
/// detector on a real picture serves `/snapshot.png`, which Pillow decodes; the box outlines lie
/// exactly where the result lines put the detections and nothing else in the picture changed.
/// `--save-frames` writes the same annotated frames (capped in number); `/metrics` counts
/// detections per class.
@Suite struct SnapshotTests {
    static let checker = #"""
    import glob, io, json, os, re, sys, time, urllib.error, urllib.request
    import numpy as np
    from PIL import Image
    port, original_path, results_path, saved_dir, side = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    base = f"http://127.0.0.1:{port}"
    def get(path):
        try:
            with urllib.request.urlopen(base + path, timeout=10) as r:
                return r.status, r.headers.get("Content-Type"), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read()
        except Exception:
            return None, None, b""
    deadline, frames, metrics = time.time() + 180, 0, ""
    while time.time() < deadline:
        status, _, body = get("/metrics")
        if status == 200:
            metrics = body.decode()
            m = re.search(r'^kiln_frames_total\{stream="door"\} (\d+)', metrics, re.M)
            frames = int(m.group(1)) if m else 0
            if frames >= 24: break
        time.sleep(0.3)
    time.sleep(1.0)  # the writer thread finishes the last saved frame
    status, ctype, png = get("/snapshot.png?stream=door")
    missing, _, _ = get("/snapshot.png?stream=nope")
    _, _, index = get("/")
    out = {"frames": frames, "status": status, "type": ctype, "missing": missing, "index": index.decode(), "metrics": [l for l in metrics.splitlines() if l.startswith("kiln_detections_total")]}
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    original = np.fromfile(original_path, np.uint8).reshape(side, side, 3)
    dets = json.loads(open(results_path).readline())["detections"]
    changed = np.any(img != original, axis=2)
    allowed = np.zeros_like(changed)
    perimeter, colors = [], set()
    for d in dets:
        x1, y1, x2, y2 = [min(max(int(round(v)), 0), side - 1) for v in d["box"]]
        edge = [(x, y1) for x in range(x1, x2 + 1)] + [(x, y2) for x in range(x1, x2 + 1)] \
             + [(x1, y) for y in range(y1, y2 + 1)] + [(x2, y) for y in range(y1, y2 + 1)]
        perimeter.append(float(np.mean([changed[y, x] for x, y in edge])))
        # the outline's colour: the most frequent one on it (another box's caption may cross it)
        values, counts = np.unique(np.array([img[y, x] for x, y in edge]), axis=0, return_counts=True)
        colors.add(tuple(int(c) for c in values[np.argmax(counts)]))
        # the outline and, above the box (or inside its top), the caption band "class 0 0.87"
        allowed[max(0, y1 - 14):max(y2, y1 + 14) + 1, x1:max(x2, x1 + 12 * 8 + 4) + 1] = True
    out.update(detections=len(dets), perimeter=perimeter, colors=sorted(colors),
               stray=int((changed & ~allowed).sum()), changed=int(changed.sum()))
    saved = sorted(glob.glob(os.path.join(saved_dir, "*.png")))
    out["saved"] = [os.path.basename(p) for p in saved]
    out["saved_equal"] = [bool(np.array_equal(np.asarray(Image.open(p).convert("RGB")), img)) for p in saved]
    print(json.dumps(out))
    """#

    @Test func theSnapshotShowsTheFrameWithBoxesWhereTheDetectionsSayAndSavedFramesAreCapped() throws {
        guard let python = try TestEnvironment.pythonTool(),
              let f = try DetectorModelTests.fixture(conf: 0.25, iou: 0.45) else { return }
        defer { try? FileManager.default.removeItem(at: f.dir) }
        // The frame with the most detections, repeated: a camera looking at a still scene.
        let best = try #require(f.expected.indices.max { f.expected[$0].count < f.expected[$1].count })
        try #require(f.expected[best].count >= 2, "the picture must hold detections: \(f.expected.map(\.count))")
        let side = 416, bytes = side * side * 3
        let all = try Data(contentsOf: f.frames)
        let still = f.dir.appendingPathComponent("still.rgb")
        try all.subdata(in: best * bytes..<(best + 1) * bytes).write(to: still)
        let results = f.dir.appendingPathComponent("results.jsonl")
        let saved = f.dir.appendingPathComponent("saved")
        let port = try LoopbackServer.freePort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnvironment.kilnExecutable)
        p.arguments = ["run", f.model.path, "--source", "door=pipe:\(side)x\(side):while :; do cat \(still.path); sleep 0.05; done",
                       "--backend", "reference", "--postprocess", "yolox", "--preprocess", DetectorModelTests.ddddocrPreprocess,
                       "--conf", "0.25", "--iou", "0.45", "--results", "file:\(results.path)", "--metrics-addr", "127.0.0.1:\(port)",
                       "--save-frames", saved.path, "--every", "5", "--save-frames-max", "3", "--duration", "240s",
                       "--report-interval", "0", "--cache-dir", f.dir.appendingPathComponent("cache").path]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        let err = f.dir.appendingPathComponent("kiln.err")
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let r = try TestEnvironment.run(python, ["-c", Self.checker, "\(port)", still.path, results.path, saved.path, "\(side)"])
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let log = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        #expect(p.terminationStatus == 0, "\(log)")
        try #require(r.status == 0, "\(r.stderr)\n\(log)")
        let out = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
        #expect(out["status"] as? Int == 200 && out["type"] as? String == "image/png", "\(out)")
        #expect(out["missing"] as? Int == 404, "\(out)")
        #expect(out["index"] as? String == "kiln telemetry: /metrics /healthz /status /snapshot.png\n", "\(out)")
        #expect(out["detections"] as? Int == f.expected[best].count, "\(out)")
        // Every box outline is drawn where its detection's coordinates are, in one colour (one
        // class), and nothing outside the boxes and their captions changed.
        let perimeter = out["perimeter"] as? [Double] ?? []
        #expect(!perimeter.isEmpty && perimeter.allSatisfy { $0 >= 0.95 }, "\(out)")
        #expect((out["colors"] as? [Any])?.count == 1, "\(out)")
        #expect(out["stray"] as? Int == 0, "\(out)")
        // Saved frames: every 5th frame, at most 3 kept, each the same annotated picture.
        let names = out["saved"] as? [String] ?? []
        #expect((1...3).contains(names.count), "\(out)")
        #expect(names.allSatisfy { $0.hasPrefix("door-") && $0.hasSuffix(".png") }, "\(names)")
        #expect((out["saved_equal"] as? [Bool] ?? []).allSatisfy { $0 }, "\(out)")
        // One class, no labels: counted as class "0".
        let counted = (out["metrics"] as? [String] ?? []).first { $0.hasPrefix("kiln_detections_total{class=\"0\"}") }
        #expect(counted.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 > 0 } == true, "\(out)")
    }

    static let captionChecker = #"""
    import glob, json, os, sys
    import numpy as np
    from PIL import Image
    saved_dir, original_path, results_path, w, h = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    png = sorted(glob.glob(os.path.join(saved_dir, "*.png")))[-1]
    img = np.asarray(Image.open(png).convert("RGB"))
    changed = np.any(img != np.fromfile(original_path, np.uint8).reshape(h, w, 3), axis=2)
    ys, xs = np.nonzero(changed)
    first = json.loads(open(results_path).readline())
    print(json.dumps({"changed": int(changed.sum()), "rows": int(ys.max()) + 1 if len(ys) else 0,
                      "cols": int(xs.max()) + 1 if len(xs) else 0, "corner": [int(v) for v in img[0, 0]],
                      "second": [int(v) for v in img[14, 0]], "classes": [c["class"] for c in first["classifications"]]}))
    """#

    @Test func aClassifierSTopClassesAreDrawnAsCaptionsAtTheTopLeftAndNothingElseChanges() throws {
        guard let python = try TestEnvironment.pythonTool() else { return }
        let dir = try TestEnvironment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("demo.onnx")
        try Data(DemoModel.bytes()).write(to: model)
        // A still camera: one 160×120 picture (a white square on grey) repeated.
        let (w, h) = (160, 120)
        var pixels = [UInt8](repeating: 90, count: w * h * 3)
        for y in 70..<110 { for x in 100..<150 { for c in 0..<3 { pixels[(y * w + x) * 3 + c] = 250 } } }
        let still = dir.appendingPathComponent("still.rgb"), results = dir.appendingPathComponent("results.jsonl")
        let saved = dir.appendingPathComponent("saved")
        try Data(pixels).write(to: still)
        let r = try TestEnvironment.run(TestEnvironment.kilnExecutable, [
            "run", model.path, "--source", "pipe:\(w)x\(h):for i in 1 2 3 4; do cat \(still.path); done", "--backend", "reference",
            "--postprocess", "topk:2", "--results", "file:\(results.path)", "--save-frames", saved.path, "--every", "1",
            "--save-frames-max", "1", "--report-interval", "0", "--cache-dir", dir.appendingPathComponent("cache").path])
        try #require(r.status == 0, "\(r.stderr)")
        let check = try TestEnvironment.run(python, ["-c", Self.captionChecker, saved.path, still.path, results.path, "\(w)", "\(h)"])
        try #require(check.status == 0, "\(check.stderr)")
        let out = try #require(try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any], "\(check.stdout)")
        let classes = out["classes"] as? [Int] ?? []
        try #require(classes.count == 2, "\(out)")
        // Two caption bands of 14 rows at the top left, each in its class's colour; the rest untouched.
        let band = FramePainter.captionHeight
        #expect(out["changed"] as? Int ?? 0 > 0, "\(out)")
        #expect(out["rows"] as? Int == 2 * band, "\(out)")
        #expect((out["cols"] as? Int ?? w) < w, "\(out)")
        for (line, key) in ["corner", "second"].enumerated() {
            let c = FramePainter.color(classes[line])
            #expect(out[key] as? [Int] == [Int(c.r), Int(c.g), Int(c.b)], "\(key): \(out)")
        }
    }
}
