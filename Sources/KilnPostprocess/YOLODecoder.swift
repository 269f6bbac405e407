import KilnCore

/// Decodes YOLO detection heads into boxes, with class-aware NMS.
///
/// Layouts (N = batch, B = candidate boxes, C = classes; boxes are cx, cy, w, h in input pixels):
/// - `.v5` (YOLOv5/v7): `[N, B, 5 + C]` — box, objectness, per-class scores; score = obj × class.
/// - `.v8` (YOLOv8/v11, Ultralytics export): `[N, 4 + C, B]` — box, per-class scores, no objectness.
/// `.auto` picks by shape: with a known class count, whichever axis equals 4 + C / 5 + C; otherwise
/// v8 when the second axis is the short one.
public struct YOLODecoder: Sendable {
    /// The output layout.
    public enum Layout: String, Sendable, CaseIterable {
        /// `[N, B, 5 + C]` with objectness.
        case v5
        /// `[N, 4 + C, B]` without objectness (v8, v11).
        case v8
        /// Decide from the shape.
        case auto
    }

    /// The layout to decode.
    public var layout: Layout
    /// The class count, if known (makes `.auto` exact and checks the shape).
    public var classCount: Int?
    /// Candidates scoring below this are discarded before NMS.
    public var confidenceThreshold: Float
    /// IoU above which a same-class box is suppressed.
    public var iouThreshold: Float
    /// At most this many detections per image.
    public var maxDetections: Int

    /// Creates a decoder; defaults match Ultralytics' predict (conf 0.25, IoU 0.45, 300).
    public init(layout: Layout = .auto, classCount: Int? = nil, confidenceThreshold: Float = 0.25,
                iouThreshold: Float = 0.45, maxDetections: Int = 300) {
        self.layout = layout
        self.classCount = classCount
        self.confidenceThreshold = confidenceThreshold
        self.iouThreshold = iouThreshold
        self.maxDetections = maxDetections
    }

    /// The concrete layout for an output of `shape`; an error naming the shape when it fits neither.
    public func resolvedLayout(for shape: [Int]) throws -> Layout {
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            throw PostprocessError("YOLO output of shape \(shape): expected rank 3, [N, B, 5+C] (v5) or [N, 4+C, B] (v8/v11)")
        }
        if layout != .auto {
            if let c = classCount {
                let ok = layout == .v5 ? shape[2] == 5 + c : shape[1] == 4 + c
                guard ok else {
                    throw PostprocessError("YOLO \(layout.rawValue) output of shape \(shape) does not fit \(c) classes (expected \(layout == .v5 ? "[N, B, \(5 + c)]" : "[N, \(4 + c), B]"))")
                }
            }
            return layout
        }
        if let c = classCount {
            if shape[1] == 4 + c && shape[2] != 5 + c { return .v8 }
            if shape[2] == 5 + c { return .v5 }
            throw PostprocessError("YOLO output of shape \(shape) fits neither [N, B, \(5 + c)] (v5) nor [N, \(4 + c), B] (v8/v11) for \(c) classes")
        }
        return shape[1] < shape[2] ? .v8 : .v5
    }

    /// Decodes every image of the batch; boxes are mapped to source pixels with `transforms[i]`
    /// (input pixels when `transforms` is empty).
    public func decode(_ output: Tensor, transforms: [LetterboxTransform] = [], labels: [String] = []) throws -> [[Detection]] {
        let layout = try resolvedLayout(for: output.shape)
        let values = output.floatValues()
        guard values.count == output.elementCount else {
            throw PostprocessError("YOLO output of element type \(output.elementType) cannot be read as numbers")
        }
        let n = output.shape[0]
        guard transforms.isEmpty || transforms.count == n else {
            throw PostprocessError("YOLO output batch \(n) but \(transforms.count) frame transforms", exitCode: .runtimeFailure)
        }
        var result: [[Detection]] = []
        values.withUnsafeBufferPointer { v in
            for image in 0..<n {
                var candidates: [Detection] = []
                switch layout {
                case .v5:
                    let boxes = output.shape[1], stride = output.shape[2], classes = stride - 5
                    let base = image * boxes * stride
                    for b in 0..<boxes {
                        let row = base + b * stride
                        let objectness = v[row + 4]
                        if objectness < confidenceThreshold { continue }
                        var best = 0
                        var bestScore = -Float.infinity
                        for c in 0..<classes where v[row + 5 + c] > bestScore { bestScore = v[row + 5 + c]; best = c }
                        let score = classes > 0 ? objectness * bestScore : objectness
                        if score < confidenceThreshold { continue }
                        candidates.append(Detection(classId: best, score: score,
                                                    box: Box(cx: v[row], cy: v[row + 1], w: v[row + 2], h: v[row + 3])))
                    }
                case .v8, .auto:
                    let channels = output.shape[1], boxes = output.shape[2], classes = channels - 4
                    let base = image * channels * boxes
                    for b in 0..<boxes {
                        var best = 0
                        var bestScore = -Float.infinity
                        for c in 0..<classes {
                            let s = v[base + (4 + c) * boxes + b]
                            if s > bestScore { bestScore = s; best = c }
                        }
                        if bestScore < confidenceThreshold { continue }
                        candidates.append(Detection(
                            classId: best, score: bestScore,
                            box: Box(cx: v[base + b], cy: v[base + boxes + b], w: v[base + 2 * boxes + b], h: v[base + 3 * boxes + b])))
                    }
                }
                var kept = NonMaximumSuppression.apply(candidates, iouThreshold: iouThreshold, maxDetections: maxDetections)
                for i in kept.indices {
                    if !transforms.isEmpty { kept[i].box = transforms[image].toSource(kept[i].box) }
                    if kept[i].classId < labels.count { kept[i].label = labels[kept[i].classId] }
                }
                result.append(kept)
            }
        }
        return result
    }
}
