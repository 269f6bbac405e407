import Foundation
import KilnCore

/// Decodes YOLO detection heads into boxes, with NMS, and checks that the head is the one it
/// decodes.
///
/// Layouts (N = batch, B = candidate boxes, C = classes):
/// - `.v5` (YOLOv5/v7): `[N, B, 5 + C]` — cx, cy, w, h in input pixels, objectness, per-class
///   scores; score = obj × class. B is 3 anchors per cell of the stride-8/16/32 grids.
/// - `.v8` (YOLOv8/v11, Ultralytics export): `[N, 4 + C, B]` — box, per-class scores, no objectness.
/// - `.yolox` (YOLOX exported without decoding, e.g. ddddocr's detector): `[N, B, 5 + C]` with one
///   candidate per cell of the stride-8/16/32 grids; the box is raw: cx = (x + gx)·s, cy = (y + gy)·s,
///   w = eʷ·s, h = eʰ·s; score = obj × class.
///
/// `.auto` picks by shape (and, for `[N, B, 5 + C]`, by B against the input size's grids).
/// `decode` refuses (exit 3) an output whose shape does not fit the layout or the class count,
/// and one whose scores leave 0…1 — the sign of a head decoded with the wrong layout.
public struct YOLODecoder: Sendable {
    /// The output layout.
    public enum Layout: String, Sendable, CaseIterable {
        /// `[N, B, 5 + C]` with objectness, boxes in pixels, 3 anchors per cell.
        case v5
        /// `[N, 4 + C, B]` without objectness (v8, v11).
        case v8
        /// `[N, B, 5 + C]` raw grid head, one candidate per cell.
        case yolox
        /// Decide from the shape.
        case auto

        /// The layout written as a shape, for messages.
        public func shapeText(classes c: Int?) -> String {
            let k = c.map(String.init) ?? "C"
            switch self {
            case .v5: return "[N, B, 5+\(k)] (v5)"
            case .v8: return "[N, 4+\(k), B] (v8/v11)"
            case .yolox: return "[N, cells, 5+\(k)] (YOLOX)"
            case .auto: return "[N, B, 5+\(k)] (v5/YOLOX) or [N, 4+\(k), B] (v8/v11)"
            }
        }
    }

    /// The default confidence threshold: Ultralytics' `predict` default `conf=0.25`.
    public static let defaultConfidence: Float = 0.25
    /// The default NMS IoU threshold: Ultralytics' `predict` default `iou=0.7`.
    public static let defaultIoU: Float = 0.7
    /// The default cap on detections per image: Ultralytics' `max_det=300`.
    public static let defaultMaxDetections = 300

    /// The layout to decode.
    public var layout: Layout
    /// The class count, if known (labels or model metadata): makes `.auto` exact and checks the shape.
    public var classCount: Int?
    /// Candidates scoring below this are discarded before NMS.
    public var confidenceThreshold: Float
    /// IoU above which a box is suppressed by a higher-scoring one (of the same class unless agnostic).
    public var iouThreshold: Float
    /// At most this many detections per image.
    public var maxDetections: Int
    /// Only these class ids are reported (nil: all).
    public var classes: Set<Int>?
    /// NMS across classes instead of per class.
    public var agnosticNMS: Bool
    /// The model input's width and height in pixels, when known (YOLOX grids, v5/YOLOX recognition).
    public var inputSize: (width: Int, height: Int)?

    /// Creates a decoder; defaults are Ultralytics' predict defaults (conf 0.25, IoU 0.7, 300).
    public init(layout: Layout = .auto, classCount: Int? = nil, confidenceThreshold: Float = YOLODecoder.defaultConfidence,
                iouThreshold: Float = YOLODecoder.defaultIoU, maxDetections: Int = YOLODecoder.defaultMaxDetections,
                classes: Set<Int>? = nil, agnosticNMS: Bool = false, inputSize: (width: Int, height: Int)? = nil) {
        self.layout = layout
        self.classCount = classCount
        self.confidenceThreshold = confidenceThreshold
        self.iouThreshold = iouThreshold
        self.maxDetections = maxDetections
        self.classes = classes
        self.agnosticNMS = agnosticNMS
        self.inputSize = inputSize
    }

    /// The cells of the stride-8/16/32 grids over the input (nil when the input size is unknown).
    var gridCells: Int? {
        guard let (w, h) = inputSize else { return nil }
        return [8, 16, 32].reduce(0) { $0 + (h / $1) * (w / $1) }
    }

    /// The concrete layout for an output of `shape`; an error naming the shape and the expected
    /// layout when it fits none.
    public func resolvedLayout(for shape: [Int]) throws -> Layout {
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            throw PostprocessError("YOLO output of shape \(shape): expected rank 3, \(Layout.auto.shapeText(classes: classCount))")
        }
        let rows = shape[1], columns = shape[2]
        if layout != .auto {
            let fits: Bool
            switch layout {
            // Without a class count, the candidate axis is the long one (thousands of boxes).
            case .v8: fits = classCount.map { rows == 4 + $0 } ?? (rows > 4 && rows < columns)
            default: fits = classCount.map { columns == 5 + $0 } ?? (columns > 5 && columns < rows)
            }
            guard fits else {
                let found = rows < columns ? Layout.v8.shapeText(classes: rows - 4) : Layout.v5.shapeText(classes: columns - 5)
                let suffix = classCount.map { " for \($0) classes (does not fit \($0) classes)" } ?? ""
                throw PostprocessError("YOLO \(layout.rawValue) expected \(layout.shapeText(classes: classCount)) but the output is \(shape), which looks like \(found)\(suffix); pick the matching --postprocess or fix --labels")
            }
            if layout == .yolox, let cells = gridCells, rows != cells {
                throw PostprocessError("YOLOX expected \(cells) grid cells for a \(inputSize!.width)x\(inputSize!.height) input but the output is \(shape)")
            }
            if layout == .v5, let cells = gridCells, rows == cells {
                throw PostprocessError("YOLO v5 expected \(3 * cells) candidates (3 anchors per grid cell of a \(inputSize!.width)x\(inputSize!.height) input) but the output is \(shape), one per cell: a YOLOX head; use --postprocess yolox or yolo")
            }
            return layout
        }
        if let c = classCount {
            if rows == 4 + c && columns != 5 + c { return .v8 }
            if columns == 5 + c { return rowsLayout(rows) }
            throw PostprocessError("YOLO output of shape \(shape) fits neither \(Layout.auto.shapeText(classes: c)) for \(c) classes; check --labels or the model's `names`")
        }
        return rows < columns ? .v8 : rowsLayout(rows)
    }

    /// `[N, B, 5 + C]`: YOLOX when B is one per grid cell, else v5.
    private func rowsLayout(_ rows: Int) -> Layout {
        if let cells = gridCells, rows == cells { return .yolox }
        return .v5
    }

    /// Decodes every image of the batch; boxes are mapped to frame pixels with `geometries[i]`
    /// (input pixels when `geometries` is empty).
    public func decode(_ output: Tensor, geometries: [LetterboxGeometry] = [], labels: [String] = []) throws -> [[Detection]] {
        let layout = try resolvedLayout(for: output.shape)
        let values = output.floatValues()
        guard values.count == output.elementCount else {
            throw PostprocessError("YOLO output of element type \(output.elementType) cannot be read as numbers")
        }
        let n = output.shape[0]
        guard geometries.isEmpty || geometries.count == n else {
            throw PostprocessError("YOLO output batch \(n) but \(geometries.count) frame geometries", exitCode: .runtimeFailure)
        }
        try checkScores(values, shape: output.shape, layout: layout)
        var grid: [(gx: Float, gy: Float, stride: Float)] = []
        if layout == .yolox, let (w, h) = inputSize {
            for s in [8, 16, 32] {
                for gy in 0..<(h / s) { for gx in 0..<(w / s) { grid.append((Float(gx), Float(gy), Float(s))) } }
            }
        }
        guard layout != .yolox || grid.count == output.shape[1] else {
            throw PostprocessError("YOLOX output \(output.shape) needs the input size to place its grid cells")
        }
        var result: [[Detection]] = []
        values.withUnsafeBufferPointer { v in
            for image in 0..<n {
                var candidates: [Detection] = []
                switch layout {
                case .v5, .yolox:
                    let boxes = output.shape[1], stride = output.shape[2], classCount = stride - 5
                    let base = image * boxes * stride
                    for b in 0..<boxes {
                        let row = base + b * stride
                        let objectness = v[row + 4]
                        if objectness < confidenceThreshold { continue }
                        var best = 0
                        var bestScore = -Float.infinity
                        for c in 0..<classCount where v[row + 5 + c] > bestScore && allowed(c) { bestScore = v[row + 5 + c]; best = c }
                        if classCount > 0 && bestScore == -.infinity { continue }
                        let score = classCount > 0 ? objectness * bestScore : objectness
                        if score < confidenceThreshold { continue }
                        let box: Box
                        if layout == .yolox {
                            let g = grid[b]
                            box = Box(cx: (v[row] + g.gx) * g.stride, cy: (v[row + 1] + g.gy) * g.stride,
                                      w: expf(v[row + 2]) * g.stride, h: expf(v[row + 3]) * g.stride)
                        } else {
                            box = Box(cx: v[row], cy: v[row + 1], w: v[row + 2], h: v[row + 3])
                        }
                        candidates.append(Detection(classId: best, score: score, box: box))
                    }
                case .v8, .auto:
                    let channels = output.shape[1], boxes = output.shape[2], classCount = channels - 4
                    let base = image * channels * boxes
                    for b in 0..<boxes {
                        var best = 0
                        var bestScore = -Float.infinity
                        for c in 0..<classCount where allowed(c) {
                            let s = v[base + (4 + c) * boxes + b]
                            if s > bestScore { bestScore = s; best = c }
                        }
                        if bestScore < confidenceThreshold { continue }
                        candidates.append(Detection(
                            classId: best, score: bestScore,
                            box: Box(cx: v[base + b], cy: v[base + boxes + b], w: v[base + 2 * boxes + b], h: v[base + 3 * boxes + b])))
                    }
                }
                var kept = NonMaximumSuppression.apply(candidates, iouThreshold: iouThreshold, classAware: !agnosticNMS,
                                                       maxDetections: maxDetections)
                for i in kept.indices {
                    if !geometries.isEmpty { kept[i].box = geometries[image].toFrame(kept[i].box) }
                    if kept[i].classId < labels.count { kept[i].label = labels[kept[i].classId] }
                }
                result.append(kept)
            }
        }
        return result
    }

    private func allowed(_ c: Int) -> Bool { classes?.contains(c) ?? true }

    /// Scores (objectness, class probabilities) must be probabilities; a head decoded with the wrong
    /// layout puts box coordinates where scores are read.
    private func checkScores(_ values: [Float], shape: [Int], layout: Layout) throws {
        var worst: Float = 0
        let rows = shape[1], columns = shape[2]
        for image in 0..<shape[0] {
            let base = image * rows * columns
            if layout == .v8 {
                for i in (base + 4 * columns)..<(base + rows * columns) where !(values[i] >= -0.001 && values[i] <= 1.001) {
                    worst = values[i].isNaN ? .nan : (worst.isNaN ? worst : max(worst, abs(values[i])))
                }
            } else {
                for r in 0..<rows {
                    for i in (base + r * columns + 4)..<(base + (r + 1) * columns) where !(values[i] >= -0.001 && values[i] <= 1.001) {
                        worst = values[i].isNaN ? .nan : (worst.isNaN ? worst : max(worst, abs(values[i])))
                    }
                }
            }
        }
        guard worst == 0 else {
            let other = layout == .v8 ? Layout.v5.shapeText(classes: columns - 5) : Layout.v8.shapeText(classes: rows - 4)
            throw PostprocessError("YOLO \(layout.rawValue) decoding of output \(shape): expected scores in 0…1 at the score positions of \(layout.shapeText(classes: nil)) but found \(worst); this head is not \(layout.rawValue) (perhaps \(other), or scores without sigmoid); pick the matching --postprocess")
        }
    }
}
