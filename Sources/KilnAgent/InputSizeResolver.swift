import KilnCore
import KilnVideo

/// The size a model's image input is served at, and the rule that chose it.
public struct InputSize: Sendable, Equatable, Codable {
    /// Why the input has this size, strongest rule first.
    public enum Rule: String, Sendable, Codable, CaseIterable {
        /// Both sides are fixed in the model's input shape.
        case modelShape = "model input shape"
        /// `--preprocess` on the command line.
        case preprocessFlag = "--preprocess"
        /// The artifact's `dev.kiln.preprocess` annotation.
        case annotation = "artifact annotation"
        /// The model's `kiln.preprocess` metadata.
        case kilnMetadata = "model metadata kiln.preprocess"
        /// The model's Ultralytics `imgsz` metadata.
        case ultralyticsMetadata = "model metadata imgsz"
        /// One side is known; the other keeps the source's aspect ratio, rounded to the stride.
        case sourceAspect = "source aspect ratio at the known side"
        /// The source's size rounded to the model's stride, capped by the device profile.
        case sourceSize = "source size rounded to the stride"
        /// Nothing says: 640 on each unknown side.
        case fallback = "default 640"
    }

    /// Input width in pixels.
    public var width: Int
    /// Input height in pixels.
    public var height: Int
    /// The rule that chose the size.
    public var rule: Rule

    /// `320x320 (model metadata imgsz)`.
    public var text: String { "\(width)x\(height) (\(rule.rawValue))" }
}

/// Decides the size of an `[N, C, H, W]` image input.
///
/// Fixed sides are used as they are. Dynamic sides resolve in order: `--preprocess`, the
/// artifact's annotation, the model's `kiln.preprocess` metadata, its Ultralytics `imgsz`
/// metadata; then, when one side is known, the other keeps the source's aspect ratio (text
/// recognisers such as PP-OCRv4 rec at height 48); otherwise the source's size rounded to the
/// model's stride (metadata `stride`, else 32), scaled down so its longest side is at most the
/// profile's cap. A text layer that sets a side the model fixes to another value is an error.
public struct InputSizeResolver: Sendable {
    /// The input's height and width from its shape (nil where dynamic).
    public var modelHeight: Int?
    /// The input's width from its shape (nil where dynamic).
    public var modelWidth: Int?
    /// The input's name, for messages.
    public var inputName: String
    /// The model's metadata (`imgsz`, `stride`, `kiln.preprocess`).
    public var metadata: [String: String]
    /// The size of the frames that will be served, when known.
    public var sourceSize: FrameSize?
    /// The longest side a size taken from the source may have.
    public var sideCap: Int

    /// Creates a resolver for `input`.
    public init(input: TensorDescriptor, metadata: [String: String], sourceSize: FrameSize?, sideCap: Int) {
        modelHeight = input.shape.count == 4 ? input.shape[2] : nil
        modelWidth = input.shape.count == 4 ? input.shape[3] : nil
        inputName = input.name
        self.metadata = metadata
        self.sourceSize = sourceSize
        self.sideCap = max(32, sideCap)
    }

    /// The model's stride: Ultralytics metadata `stride` (`32` or `[8, 16, 32]`, largest wins), else 32.
    public var stride: Int {
        guard let text = metadata["stride"] else { return 32 }
        let values = InputSizeResolver.integers(in: text).filter { $0 > 0 && $0 <= 256 }
        return values.max() ?? 32
    }

    /// Ultralytics `imgsz` (`[320, 320]` as height, width; or `320`) as (width, height).
    public var ultralyticsSize: (width: Int, height: Int)? {
        guard let text = metadata["imgsz"] else { return nil }
        let values = InputSizeResolver.integers(in: text)
        guard let first = values.first, values.count <= 2, values.allSatisfy({ $0 > 0 && $0 <= 8192 }) else { return nil }
        return values.count == 2 ? (values[1], values[0]) : (first, first)
    }

    /// Resolves the size from the text layers (strongest first: `--preprocess`, annotation, metadata).
    public func resolve(preprocessFlag: String?, annotation: String?, model: String) throws -> InputSize {
        var layers: [(InputSize.Rule, width: Int?, height: Int?)] = []
        for (text, rule) in [(preprocessFlag, InputSize.Rule.preprocessFlag), (annotation, .annotation),
                             (metadata["kiln.preprocess"], .kilnMetadata)] {
            guard let text, !text.isEmpty else { continue }
            let pinned: (width: Int?, height: Int?)
            do {
                pinned = try PreprocessSpec.pinnedSize(in: text)
            } catch {
                throw UsageError("\(model): \(rule.rawValue): \(error)")
            }
            for (side, value, fixed) in [("width", pinned.width, modelWidth), ("height", pinned.height, modelHeight)] {
                if let value, let fixed, value != fixed {
                    throw UsageError("\(model): \(rule.rawValue) sets input \(inputName)'s \(side) to \(value) but the model fixes it at \(fixed); fix or drop the size in \(rule.rawValue)")
                }
            }
            layers.append((rule, pinned.width, pinned.height))
        }
        if let size = ultralyticsSize { layers.append((.ultralyticsMetadata, size.width, size.height)) }

        var width = modelWidth, height = modelHeight
        var rule: InputSize.Rule = .modelShape
        for layer in layers where width == nil || height == nil {
            var used = false
            if width == nil, let w = layer.width { width = w; used = true }
            if height == nil, let h = layer.height { height = h; used = true }
            if used && rule == .modelShape { rule = layer.0 }
        }
        if let width, let height { return InputSize(width: width, height: height, rule: rule) }
        guard let source = sourceSize, source.width > 0, source.height > 0 else {
            return InputSize(width: width ?? 640, height: height ?? 640, rule: .fallback)
        }
        let aspect = Double(source.width) / Double(source.height)
        if let height {
            return InputSize(width: fit(Double(height) * aspect), height: height, rule: .sourceAspect)
        }
        if let width {
            return InputSize(width: width, height: fit(Double(width) / aspect), rule: .sourceAspect)
        }
        let scale = min(1, Double(sideCap) / Double(max(source.width, source.height)))
        return InputSize(width: fit(Double(source.width) * scale), height: fit(Double(source.height) * scale), rule: .sourceSize)
    }

    /// `value` rounded to the nearest multiple of the stride, at least one stride, at most the cap.
    private func fit(_ value: Double) -> Int {
        let s = stride
        let rounded = max(s, Int((value / Double(s)).rounded()) * s)
        return rounded <= sideCap ? rounded : max(s, sideCap / s * s)
    }

    /// The decimal integers in `text` (`[320, 320]` → 320, 320).
    static func integers(in text: String) -> [Int] {
        text.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
    }
}
