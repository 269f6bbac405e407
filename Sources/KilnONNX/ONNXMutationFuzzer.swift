import KilnCore

/// A deterministic mutation fuzzer for the ONNX model and TensorProto readers.
///
/// Each execution takes a seed file, applies 1–4 structure-blind mutations (bit flips, byte
/// overwrites with boundary values, inserted/deleted/duplicated ranges, varint-shaped runs,
/// truncation, splices with another seed) and feeds the result to `ONNXReader.model` and
/// `ONNXReader.tensor`. The oracle: the readers return or throw `ONNXError`, never trap; and
/// whatever they accept must serialize to bytes that read back and serialize identically, and
/// `ModelInspection` must describe every accepted model.
/// The same seeds and `seed` always produce the same inputs, so a failure replays exactly.
public struct ONNXMutationFuzzer: Sendable {
    /// What a run did.
    public struct Report: Sendable {
        /// Inputs executed (each fed to both readers).
        public var executions = 0
        /// Inputs the model reader accepted.
        public var acceptedModels = 0
        /// Inputs the tensor reader accepted.
        public var acceptedTensors = 0
        /// Inputs the readers accepted but whose re-serialization did not round-trip (each a bug).
        public var roundTripFailures: [String] = []
        /// An empty report.
        public init() {}
    }

    private var seeds: [[UInt8]]
    private var state: UInt64

    /// Creates a fuzzer over `seeds` (valid `.onnx` / `.pb` files) with PRNG seed `seed`.
    public init(seeds: [[UInt8]], seed: UInt64 = 0x4B494C4E) {
        self.seeds = seeds.isEmpty ? [[]] : seeds
        self.state = seed | 1
    }

    /// Runs `iterations` executions; `progress` is called every 100,000 with the report so far.
    public mutating func run(iterations: Int, progress: (Report) -> Void = { _ in }) -> Report {
        var report = Report()
        for i in 0..<iterations {
            let input = nextInput()
            check(input, &report)
            report.executions += 1
            if (i + 1) % 100_000 == 0 { progress(report) }
        }
        return report
    }

    /// Feeds one input to both readers and checks the round-trip oracle.
    public static func execute(_ input: [UInt8], _ report: inout Report) {
        if let model = try? ONNXReader.model(input) {
            report.acceptedModels += 1
            // Whatever the reader accepts, inspection must describe without trapping.
            let inspection = ModelInspection(model: model, backends: ["reference": inspectionSupport])
            _ = inspection.text(title: "fuzz")
            for value in model.graph.inputs + model.graph.outputs + model.graph.valueInfos { _ = value.typeDescription }
            let bytes = ONNXWriter.serialize(model)
            guard let again = try? ONNXReader.model(bytes), ONNXWriter.serialize(again) == bytes else {
                report.roundTripFailures.append(hex(input))
                return
            }
        }
        if let tensor = try? ONNXReader.tensor(input) {
            report.acceptedTensors += 1
            let bytes = ONNXWriter.serialize(tensor)
            guard let again = try? ONNXReader.tensor(bytes), ONNXWriter.serialize(again) == bytes else {
                report.roundTripFailures.append(hex(input))
                return
            }
        }
    }

    private static let inspectionSupport = ModelInspection.supporting(ModelInspection.referenceBackendOps, minimumOpset: 9)

    private func check(_ input: [UInt8], _ report: inout Report) {
        Self.execute(input, &report)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(min(bytes.count, 4096) * 2)
        for b in bytes.prefix(4096) { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: mutation

    private mutating func random() -> UInt64 {
        // xorshift64*
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2685821657736338717
    }

    private mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(random() % UInt64(n)) }

    /// The next mutated input.
    public mutating func nextInput() -> [UInt8] {
        var data = seeds[below(seeds.count)]
        for _ in 0...below(4) { mutate(&data) }
        return data
    }

    private mutating func mutate(_ data: inout [UInt8]) {
        let interesting: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x08, 0x0A, 0x12, 0x1A, 0x22, 0x3A, 0x42]
        switch below(10) {
        case 0 where !data.isEmpty:  // flip a bit
            data[below(data.count)] ^= UInt8(1) << UInt8(below(8))
        case 1 where !data.isEmpty:  // overwrite with a boundary / tag-like value
            data[below(data.count)] = interesting[below(interesting.count)]
        case 2 where !data.isEmpty:  // random byte
            data[below(data.count)] = UInt8(truncatingIfNeeded: random())
        case 3:  // insert a varint-shaped run (continuation bytes, a huge length)
            let at = below(data.count + 1)
            let run: [UInt8] = [[0xFF, 0xFF, 0xFF, 0xFF, 0x0F], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
                                [0xFF], [0x00], [0x08, 0x00], [0x0A, 0x7F]][below(6)]
            data.insert(contentsOf: run, at: at)
        case 4 where data.count > 1:  // delete a range
            let start = below(data.count)
            let end = min(data.count, start + 1 + below(16))
            data.removeSubrange(start..<end)
        case 5 where data.count > 1:  // truncate
            data.removeSubrange(below(data.count)...)
        case 6 where !data.isEmpty:  // duplicate a range
            let start = below(data.count)
            let end = min(data.count, start + 1 + below(64))
            data.insert(contentsOf: data[start..<end], at: below(data.count + 1))
        case 7:  // splice with another seed
            let other = seeds[below(seeds.count)]
            guard !other.isEmpty else { return }
            let start = below(other.count)
            let piece = other[start..<min(other.count, start + 1 + below(256))]
            if data.isEmpty { data = Array(piece) } else {
                let at = below(data.count)
                data.replaceSubrange(at..<min(data.count, at + piece.count), with: piece)
            }
        case 8 where !data.isEmpty:  // add or subtract a small amount (lengths, dims, types)
            let i = below(data.count)
            data[i] = data[i] &+ UInt8(truncatingIfNeeded: below(33) - 16)
        default:  // random bytes appended
            for _ in 0..<(1 + below(8)) { data.append(UInt8(truncatingIfNeeded: random())) }
        }
    }
}
