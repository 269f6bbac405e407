import KilnCore

extension PreprocessSpec {
    /// Parses the text form used by `--preprocess`, artifact annotations and model metadata.
    ///
    /// Comma-separated tokens, any order, each optional: `WxH` (input size), `width=N` or
    /// `height=N` (one side; the other follows the source's aspect ratio when the model's is
    /// dynamic), `letterbox` or `stretch`, `rgb` or `bgr`, `imagenet` (ImageNet mean/std in the
    /// channel order the text chooses, wherever `imagenet` stands), `mean=R/G/B` and `std=R/G/B`
    /// (0–1 units, output channel order; they win over `imagenet`), `pad=N` (0–255), `fp32` or
    /// `fp16`. Tokens not given keep the values of `base`. Example: `letterbox,640x640,rgb,pad=114`.
    public init(parsing text: String, base: PreprocessSpec) throws {
        self = base
        func bad(_ token: Substring, _ why: String) -> UsageError {
            UsageError("preprocess \"\(text)\": \(token): \(why); write e.g. letterbox,640x640,rgb,mean=0.485/0.456/0.406,std=0.229/0.224/0.225,pad=114,fp16")
        }
        func triple(_ token: Substring, _ value: Substring) throws -> [Float] {
            let parts = value.split(separator: "/").map { Float($0) }
            guard parts.count == 3, parts.allSatisfy({ $0 != nil && $0!.isFinite }) else { throw bad(token, "expected three numbers separated by /") }
            return parts.map { $0! }
        }
        var imageNet = false, explicitMean: [Float]?, explicitStd: [Float]?
        for raw in text.split(separator: ",") {
            let token = raw.trimmingCharacters(in: .whitespaces)[...]
            switch token {
            case "letterbox": resize = .letterbox
            case "stretch": resize = .stretch
            case "rgb": channelOrder = .rgb
            case "bgr": channelOrder = .bgr
            case "fp32", "float32": outputType = .float32
            case "fp16", "float16": outputType = .float16
            case "imagenet": imageNet = true
            default:
                if token.hasPrefix("mean=") {
                    explicitMean = try triple(token, token.dropFirst(5))
                } else if token.hasPrefix("std=") {
                    let values = try triple(token, token.dropFirst(4))
                    guard values.allSatisfy({ $0 > 0 }) else { throw bad(token, "std must be positive") }
                    explicitStd = values
                } else if token.hasPrefix("width=") || token.hasPrefix("height=") {
                    let isWidth = token.hasPrefix("width=")
                    guard let v = Int(token.dropFirst(isWidth ? 6 : 7)), v > 0, v <= 8192 else {
                        throw bad(token, "size must be 1–8192")
                    }
                    if isWidth { width = v } else { height = v }
                } else if token.hasPrefix("pad=") {
                    guard let v = Float(token.dropFirst(4)), v >= 0, v <= 255 else { throw bad(token, "pad is a value 0–255") }
                    padValue = v
                } else if let x = token.firstIndex(of: "x"), let w = Int(token[..<x]), let h = Int(token[token.index(after: x)...]) {
                    guard w > 0, h > 0, w <= 8192, h <= 8192 else { throw bad(token, "size must be 1–8192 on each side") }
                    width = w
                    height = h
                } else {
                    throw bad(token, "unknown token")
                }
            }
        }
        if imageNet {
            mean = channelOrder == .rgb ? [0.485, 0.456, 0.406] : [0.406, 0.456, 0.485]
            std = channelOrder == .rgb ? [0.229, 0.224, 0.225] : [0.225, 0.224, 0.229]
        }
        if let explicitMean { mean = explicitMean }
        if let explicitStd { std = explicitStd }
    }

    /// The sides `text` sets (`WxH`, `width=`, `height=`), nil for those it leaves alone.
    public static func pinnedSize(in text: String) throws -> (width: Int?, height: Int?) {
        let parsed = try PreprocessSpec(parsing: text, base: PreprocessSpec(width: 0, height: 0))
        return (parsed.width > 0 ? parsed.width : nil, parsed.height > 0 ? parsed.height : nil)
    }

    /// The text form, parseable by `init(parsing:base:)`.
    public var text: String {
        func t(_ v: [Float]) -> String { v.map { String($0) }.joined(separator: "/") }
        return "\(resize.rawValue),\(width)x\(height),\(channelOrder.rawValue),mean=\(t(mean)),std=\(t(std)),pad=\(Int(padValue)),"
            + (outputType == .float16 ? "fp16" : "fp32")
    }
}

private extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

private extension Set where Element == Character {
    static var whitespaces: Set<Character> { [" ", "\t"] }
}
