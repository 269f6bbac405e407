import Foundation
import KilnVideo

/// CPU preprocessing of a 1920×1080 RGB frame to a 640×640 letterboxed, normalised NCHW float32
/// tensor, single thread: Kiln's `CPUPreprocessor` against OpenCV (`cv2.resize` +
/// `copyMakeBorder` + `cv2.dnn.blobFromImage`), on the same frame, in one run.
enum PreprocessBenchmark: Benchmark {
    static let name = "preprocess"
    static let summary = "CPU letterbox preprocessing 1080p -> 640x640 NCHW: Kiln vs OpenCV"

    static let script = #"""
import sys, time, numpy as np, cv2
cv2.setNumThreads(1)
raw, out, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
img = np.fromfile(raw, dtype=np.uint8).reshape(1080, 1920, 3)
def prep(img):
    r = cv2.resize(img, (640, 360), interpolation=cv2.INTER_LINEAR)
    b = cv2.copyMakeBorder(r, 140, 140, 0, 0, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return cv2.dnn.blobFromImage(b, scalefactor=1/255.0, size=(640, 640), mean=(0, 0, 0), swapRB=False, crop=False)
for _ in range(5): blob = prep(img)
ts = []
for _ in range(iters):
    t = time.perf_counter(); blob = prep(img); ts.append(time.perf_counter() - t)
ts.sort()
blob.astype(np.float32).tofile(out)
print(ts[len(ts)//2], cv2.__version__)
"""#

    static func run(_ args: [String]) async throws {
        let iterations = Int(BenchSupport.option(args, "--iterations") ?? "") ?? 200
        let python = BenchSupport.python(args)
        let source = SyntheticSource(width: 1920, height: 1080)
        let frame = try source.next()!
        let spec = PreprocessSpec(width: 640, height: 640, resize: .letterbox, channelOrder: .rgb, padValue: 114)
        let pre = CPUPreprocessor(spec: spec)
        var output = [Float](repeating: 0, count: 3 * 640 * 640)
        let kiln = try output.withUnsafeMutableBufferPointer { buf in
            try BenchSupport.time(iterations: iterations) { try pre.run(frame, into: buf.baseAddress!) }
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let raw = dir.appendingPathComponent("frame.rgb"), out = dir.appendingPathComponent("blob.f32")
        try Data(frame.pixels).write(to: raw)
        let reply = try BenchSupport.runPython(python, script: script, arguments: [raw.path, out.path, String(iterations)])
        let parts = reply.split(separator: " ")
        let opencv = Double(parts[0].trimmingCharacters(in: .whitespacesAndNewlines)) ?? .nan
        let version = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespacesAndNewlines) : "?"
        let blob = try Data(contentsOf: out).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        var maxDiff: Float = 0
        for i in 0..<min(blob.count, output.count) { maxDiff = max(maxDiff, abs(blob[i] - output[i])) }
        print("CPU preprocessing, 1920x1080 RGB -> 640x640 letterbox, /255, NCHW float32, 1 thread, \(iterations) iterations (median)")
        BenchSupport.table(["implementation", "ms/frame", "frames/s", "vs OpenCV"], [
            ["OpenCV \(version)", String(format: "%.3f", opencv * 1e3), String(format: "%.0f", 1 / opencv), "1.00x"],
            ["Kiln CPUPreprocessor", String(format: "%.3f", kiln * 1e3), String(format: "%.0f", 1 / kiln),
             String(format: "%.2fx", opencv / kiln)],
        ])
        print(String(format: "max |Kiln - OpenCV| = %.4f (OpenCV rounds the resize to uint8; 1/255 = %.4f)", maxDiff, 1.0 / 255))
    }
}
