import Foundation
import Glibc
import KilnCore
@testable import KilnPostprocess
import KilnTestSupport
import Testing

/// Known boxes in model-input pixels (640x640) for the YOLO layouts.
struct Candidate {
    var anchor: Int
    var cx: Float, cy: Float, w: Float, h: Float
    var classId: Int
    var score: Float
}

let candidates = [
    Candidate(anchor: 10, cx: 200, cy: 300, w: 100, h: 80, classId: 0, score: 0.9),   // A
    Candidate(anchor: 500, cx: 205, cy: 302, w: 100, h: 80, classId: 0, score: 0.8),  // overlaps A, same class: suppressed
    Candidate(anchor: 8000, cx: 200, cy: 300, w: 100, h: 80, classId: 1, score: 0.7), // same place, other class: kept
    Candidate(anchor: 42, cx: 300, cy: 300, w: 40, h: 40, classId: 2, score: 0.2),    // below the threshold
    Candidate(anchor: 7000, cx: 500, cy: 400, w: 60, h: 60, classId: 0, score: 0.6),  // elsewhere: kept
]

/// `[1, 4 + classes, anchors]` as Ultralytics v8/v11 exports it.
func v8Tensor(_ cands: [Candidate], anchors: Int = 8400, classes: Int = 3) -> [Float] {
    var v = [Float](repeating: 0, count: (4 + classes) * anchors)
    for c in cands {
        v[c.anchor] = c.cx; v[anchors + c.anchor] = c.cy; v[2 * anchors + c.anchor] = c.w; v[3 * anchors + c.anchor] = c.h
        v[(4 + c.classId) * anchors + c.anchor] = c.score
        // A weaker second class on the same anchor must not win.
        v[(4 + (c.classId + 1) % classes) * anchors + c.anchor] = c.score / 2
    }
    return v
}

/// `[1, anchors, 5 + classes]` as YOLOv5 exports it; objectness × class probability = score.
func v5Tensor(_ cands: [Candidate], anchors: Int = 25200, classes: Int = 3) -> [Float] {
    let stride = 5 + classes
    var v = [Float](repeating: 0, count: anchors * stride)
    for c in cands {
        let r = c.anchor * stride
        v[r] = c.cx; v[r + 1] = c.cy; v[r + 2] = c.w; v[r + 3] = c.h
        v[r + 4] = 0.95
        v[r + 5 + c.classId] = c.score / 0.95
    }
    return v
}

@Suite struct YOLODecoderTests {
    let geometry = LetterboxGeometry.letterbox(frameWidth: 1280, frameHeight: 720, inputWidth: 640, inputHeight: 640)

    func expectKnownDetections(_ d: [Detection], file: StaticString = #filePath) {
        #expect(d.map(\.classId) == [0, 1, 0])
        #expect(zip(d.map(\.score), [0.9, 0.7, 0.6] as [Float]).allSatisfy { abs($0 - $1) < 1e-5 }, "\(d.map(\.score))")
        // A: input (150, 260)-(250, 340); letterbox scale 0.5, top pad 140 -> source (300, 240)-(500, 400).
        #expect(d[0].box == Box(x1: 300, y1: 240, x2: 500, y2: 400))
        #expect(d[1].box == d[0].box)
        #expect(d[2].box == Box(x1: 940, y1: (370 - 140) * 2, x2: 1060, y2: (430 - 140) * 2))
        #expect(d[0].label == "person" && d[1].label == "bicycle")
    }

    @Test func decodesTheV8LayoutWithClassAwareNMS() throws {
        let t = Tensor(shape: [1, 7, 8400], floats: v8Tensor(candidates))
        let decoder = YOLODecoder(layout: .v8)
        #expect(try decoder.resolvedLayout(for: t.shape) == .v8)
        let out = try decoder.decode(t, geometries: [geometry], labels: ["person", "bicycle", "car"])
        #expect(out.count == 1)
        expectKnownDetections(out[0])
    }

    @Test func decodesTheV5LayoutWithObjectness() throws {
        let t = Tensor(shape: [1, 25200, 8], floats: v5Tensor(candidates))
        #expect(try YOLODecoder(classCount: 3).resolvedLayout(for: t.shape) == .v5)
        let out = try YOLODecoder(layout: .auto, classCount: 3).decode(t, geometries: [geometry], labels: ["person", "bicycle", "car"])
        expectKnownDetections(out[0])
    }

    @Test func decodesFloat16OutputsAndBatches() throws {
        let one = v8Tensor(candidates)
        let shifted = v8Tensor([Candidate(anchor: 3, cx: 320, cy: 320, w: 64, h: 64, classId: 2, score: 0.75)])
        let halves = (one + shifted).map { Float16($0).bitPattern }
        let t = Tensor(elementType: .float16, shape: [2, 7, 8400], bytes: halves.withUnsafeBytes { Array($0) })
        let stretch = LetterboxGeometry.stretch(frameWidth: 640, frameHeight: 480, inputWidth: 640, inputHeight: 640)
        let out = try YOLODecoder().decode(t, geometries: [geometry, stretch])
        #expect(out[0].map(\.classId) == [0, 1, 0])
        #expect(out[1].count == 1 && out[1][0].classId == 2)
        // Stretch: y scaled by 640/480.
        #expect(out[1][0].box == Box(x1: 288, y1: 288 * 0.75, x2: 352, y2: 352 * 0.75))
    }

    @Test func layoutsAreRecognisedFromRealModelShapes() throws {
        let d = YOLODecoder(classCount: 80)
        #expect(try d.resolvedLayout(for: [1, 84, 8400]) == .v8)
        #expect(try d.resolvedLayout(for: [1, 25200, 85]) == .v5)
        #expect(try YOLODecoder().resolvedLayout(for: [1, 84, 8400]) == .v8)
        #expect(try YOLODecoder().resolvedLayout(for: [1, 25200, 85]) == .v5)
        #expect { try d.resolvedLayout(for: [1, 1000]) } throws: { "\($0)".contains("expected rank 3") }
        #expect { try d.resolvedLayout(for: [1, 90, 8400]) } throws: { "\($0)".contains("for 80 classes") }
        #expect { try YOLODecoder(layout: .v5, classCount: 80).resolvedLayout(for: [1, 84, 8400]) } throws: {
            "\($0)".contains("does not fit 80 classes")
        }
    }

    @Test func maxDetectionsCapsTheResult() throws {
        var many: [Candidate] = []
        for i in 0..<50 { many.append(Candidate(anchor: i, cx: Float(i * 12 + 6), cy: 6, w: 10, h: 10, classId: 0, score: 0.5 + Float(i) / 200)) }
        let out = try YOLODecoder(maxDetections: 10).decode(Tensor(shape: [1, 7, 8400], floats: v8Tensor(many)))
        #expect(out[0].count == 10)
        #expect(abs((out[0].first?.score ?? 0) - 0.745) < 1e-6)
    }
}

@Suite struct NMSAndTopKTests {
    @Test func iouOfKnownOverlaps() {
        let a = Box(x1: 0, y1: 0, x2: 10, y2: 10)
        #expect(a.iou(Box(x1: 5, y1: 0, x2: 15, y2: 10)) == Float(50.0 / 150.0))
        #expect(a.iou(a) == 1)
        #expect(a.iou(Box(x1: 10, y1: 0, x2: 20, y2: 10)) == 0)
        #expect(a.iou(Box(x1: 0, y1: 0, x2: 5, y2: 5)) == 0.25)
    }

    @Test func nmsSuppressesOnlySameClassAboveTheThreshold() {
        let a = Detection(classId: 0, score: 0.9, box: Box(x1: 0, y1: 0, x2: 10, y2: 10))
        let b = Detection(classId: 0, score: 0.8, box: Box(x1: 5, y1: 0, x2: 15, y2: 10))   // IoU 1/3 with a
        let c = Detection(classId: 0, score: 0.7, box: Box(x1: 1, y1: 0, x2: 11, y2: 10))   // IoU 0.82 with a
        let d = Detection(classId: 1, score: 0.6, box: Box(x1: 1, y1: 0, x2: 11, y2: 10))   // other class
        #expect(NonMaximumSuppression.apply([d, c, b, a], iouThreshold: 0.45) == [a, b, d])
        #expect(NonMaximumSuppression.apply([d, c, b, a], iouThreshold: 0.3) == [a, d])
        #expect(NonMaximumSuppression.apply([d, c, b, a], iouThreshold: 0.45, classAware: false) == [a, b])
    }

    @Test func topKAppliesSoftmaxToLogitsAndKeepsDistributions() throws {
        let logits = Tensor(shape: [2, 4], floats: [1, 0, 3, 2, 0.1, 0.2, 0.3, 0.4])
        let out = try TopK(k: 3).decode(logits, labels: ["a", "b", "c", "d"])
        #expect(out[0].map(\.classId) == [2, 3, 0])
        #expect(out[0][0].label == "c")
        let e: [Float] = [1, 0, 3, 2].map { expf($0) }
        #expect(abs(out[0][0].score - e[2] / e.reduce(0, +)) < 1e-6)
        // Row 2 already sums to 1: reported as is.
        #expect(out[1].map(\.classId) == [3, 2, 1] && out[1][0].score == 0.4)
        let nchw = Tensor(shape: [1, 4, 1, 1], floats: [0.1, 0.6, 0.2, 0.1])
        #expect(try TopK(k: 1).decode(nchw)[0] == [Classification(classId: 1, score: 0.6)])
        #expect(throws: PostprocessError.self) { try TopK().decode(Tensor(shape: [2, 3, 4], floats: Array(repeating: 0, count: 24))) }
    }

    @Test func postprocessorsProduceOneResultPerFrame() throws {
        let frames = [PostprocessContext(stream: "cam0", index: 7, geometry: .letterbox(frameWidth: 1280, frameHeight: 720, inputWidth: 640, inputHeight: 640), timestamp: 1)]
        let det = try DetectionPostprocessor(labels: ["person", "bicycle", "car"]).process(
            outputs: [Tensor(shape: [1, 7, 8400], floats: v8Tensor(candidates))], frames: frames)
        #expect(det.count == 1 && det[0].frame == 7 && det[0].detections?.count == 3)
        let cls = try ClassificationPostprocessor(topK: TopK(k: 2)).process(outputs: [Tensor(shape: [1, 4], floats: [0, 5, 1, 0])], frames: frames)
        #expect(cls[0].classifications?.map(\.classId) == [1, 2])
        #expect(throws: PostprocessError.self) {
            try ClassificationPostprocessor().process(outputs: [Tensor(shape: [2, 4], floats: Array(repeating: 0, count: 8))], frames: frames)
        }
    }
}

@Suite struct ResultSinkTests {
    let result = FrameResult(stream: "cam0", frame: 3, timestamp: 1_700_000_000.5, latencyMs: 12.5,
                             detections: [Detection(classId: 0, label: "person", score: 0.5, box: Box(x1: 1, y1: 2, x2: 3, y2: 4))])

    @Test func writesJSONLinesToAFile() throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-sink")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("results.jsonl").path
        let sink = try ResultSink(try .parse("file:\(path)"))
        try sink.write([result, result])
        sink.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0] == #"{"detections":[{"box":[1,2,3,4],"class":0,"label":"person","score":0.5}],"frame":3,"latency_ms":12.5,"stream":"cam0","timestamp":1700000000.5}"#)
        #expect(try JSONDecoder().decode(FrameResult.self, from: Data(lines[1].utf8)) == result)
    }

    @Test func writesJSONLinesToAUnixSocketAndCountsDropsWhenTheReaderIsGone() throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-sock")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.sock").path
        // Nobody listens yet: the sink opens anyway (it connects lazily); a result nobody took by
        // the close is counted as dropped.
        let early = try ResultSink(.unixSocket(path))
        try early.write(result)
        early.close()
        #expect(early.droppedCount == 1 && early.writtenCount == 0)
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        listen(listener, 1)
        let sink = try ResultSink(try .parse("unix:\(path)"))
        // The publisher connects when the first result is queued.
        for _ in 0..<3 { try sink.write(result) }
        let conn = accept(listener, nil, nil)
        var got = [UInt8](repeating: 0, count: 65536)
        var text = ""
        while text.split(separator: "\n").count < 3 {
            let n = read(conn, &got, got.count)
            if n <= 0 { break }
            text += String(decoding: got[0..<n], as: UTF8.self)
        }
        let lines = text.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(try lines.allSatisfy { try JSONDecoder().decode(FrameResult.self, from: Data($0.utf8)) == result })
        close(conn)
        close(listener)
        unlink(path)
        // The reader is gone: writes never block or throw, they are counted as dropped.
        for _ in 0..<3 { try sink.write(result) }
        sink.close()
        #expect(sink.droppedCount >= 2 && sink.writtenCount + sink.droppedCount == 6, "\(sink.writtenCount) \(sink.droppedCount)")
    }

    @Test func badDestinationsAreUsageErrors() throws {
        #expect { try ResultSink.Destination.parse("kafka://x") } throws: { ($0 as? PostprocessError)?.exitCode == .usage }
        #expect(try ResultSink.Destination.parse("stdout") == .stdout)
        #expect(try ResultSink.Destination.parse("/tmp/r.jsonl") == .file("/tmp/r.jsonl"))
    }
}
