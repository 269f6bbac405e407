import Foundation
import KilnCore
import KilnPostprocess
import KilnVideo

/// Adapts KilnPostprocess's decoders (top-k, YOLO + NMS) to the loop's `FramePostprocessor`:
/// outputs in the engine's order, the frame's letterbox undone, one JSON line per frame.
public struct DecodingPostprocessor: FramePostprocessor {
    /// The decoder.
    public let decoder: any Postprocessor
    /// Output names in model order (outputs arrive as a dictionary); empty means sorted names.
    public let outputOrder: [String]

    /// Wraps `decoder`.
    public init(_ decoder: any Postprocessor, outputOrder: [String] = []) {
        self.decoder = decoder
        self.outputOrder = outputOrder
    }

    /// `--postprocess TEXT`: `none`, `topk[:K]` (classification), `yolo[:v5|v8|auto]` with optional
    /// `,conf=0.25,iou=0.45,max=300,classes=N`; `labels` names classes (one per line). Nil for `none`.
    public static func make(_ text: String, labelsPath: String? = nil) throws -> DecodingPostprocessor? {
        let labels = try labelsPath.map { try loadLabels(path: $0) } ?? []
        var parts = text.split(separator: ",").map(String.init)
        guard let head = parts.first else { throw UsageError("--postprocess: empty; use none, topk[:K] or yolo[:v5|v8]") }
        parts.removeFirst()
        var options: [String: String] = [:]
        for p in parts {
            let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw UsageError("--postprocess \(text): \(p) is not key=value") }
            options[kv[0]] = kv[1]
        }
        func number(_ key: String) throws -> Float? {
            guard let v = options.removeValue(forKey: key) else { return nil }
            guard let f = Float(v) else { throw UsageError("--postprocess \(text): \(key)=\(v) is not a number") }
            return f
        }
        let kind = head.split(separator: ":", maxSplits: 1).map(String.init)
        let result: DecodingPostprocessor?
        switch kind[0] {
        case "none":
            result = nil
        case "topk", "classify":
            let k = kind.count > 1 ? Int(kind[1]) : 5
            guard let k, k > 0 else { throw UsageError("--postprocess \(text): topk:K needs a positive K") }
            result = DecodingPostprocessor(ClassificationPostprocessor(topK: TopK(k: k), labels: labels))
        case "yolo", "detect":
            let layoutText = kind.count > 1 ? kind[1] : "auto"
            let layout: YOLODecoder.Layout? = ["v5": .v5, "v7": .v5, "v8": .v8, "v11": .v8, "auto": .auto][layoutText]
            guard let layout else { throw UsageError("--postprocess \(text): YOLO layout \(layoutText); use v5, v8, v11 or auto") }
            var decoder = YOLODecoder(layout: layout, classCount: labels.isEmpty ? nil : labels.count)
            if let c = try number("conf") { decoder.confidenceThreshold = c }
            if let i = try number("iou") { decoder.iouThreshold = i }
            if let m = try number("max") { decoder.maxDetections = Int(m) }
            if let n = try number("classes") { decoder.classCount = Int(n) }
            result = DecodingPostprocessor(DetectionPostprocessor(decoder: decoder, labels: labels))
        default:
            throw UsageError("--postprocess \(text): unknown; use none, topk[:K] or yolo[:v5|v8|v11|auto][,conf=,iou=,max=,classes=]")
        }
        if let unknown = options.keys.sorted().first { throw UsageError("--postprocess \(text): unknown option \(unknown)") }
        return result
    }

    public func process(outputs: [String: Tensor], context: FrameContext) throws -> String? {
        let names = outputOrder.isEmpty ? outputs.keys.sorted() : outputOrder
        let tensors = try names.map { name -> Tensor in
            guard let t = outputs[name] else { throw PostprocessError("the engine produced no output named \(name)") }
            return t
        }
        let g = context.geometry
        let transform = LetterboxTransform(sourceWidth: context.width, sourceHeight: context.height,
                                           scaleX: Float(g.scaleX), scaleY: Float(g.scaleY), padX: Float(g.padX), padY: Float(g.padY))
        let frame = PostprocessContext(stream: context.stream, index: context.index, transform: transform)
        guard let result = try decoder.process(outputs: tensors, frames: [frame]).first else { return nil }
        return try ResultSink.encodeLine(result)
    }
}
