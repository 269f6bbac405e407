import KilnCore

/// Latency samples of one stage, kept for exact percentiles.
///
/// Stores every sample up to `capacity`; past that, reservoir sampling keeps a uniform sample
/// of the whole run, so memory stays bounded on a service that runs for months.
struct LatencyHistogram: Sendable {
    private(set) var samples: [Float] = []
    private(set) var count = 0
    private var rng = SystemRandomNumberGenerator()
    let capacity: Int

    init(capacity: Int = 100_000) { self.capacity = capacity }

    mutating func record(_ seconds: Double) {
        count += 1
        if samples.count < capacity {
            samples.append(Float(seconds))
        } else {
            let j = Int.random(in: 0..<count, using: &rng)
            if j < capacity { samples[j] = Float(seconds) }
        }
    }

    /// Percentiles `ps` (0–100) in milliseconds, nearest-rank; zeros when empty.
    func percentilesMilliseconds(_ ps: [Double]) -> [Double] {
        guard !samples.isEmpty else { return ps.map { _ in 0 } }
        let sorted = samples.sorted()
        return ps.map { Double(Percentile.nearestRank($0, ofSorted: sorted) ?? 0) * 1000 }
    }
}
