/// Kiln's one percentile rule: nearest rank (the smallest sample with at least p % of the
/// samples at or below it), so p99 of 100 samples is the 99th smallest, never an interpolation.
public enum Percentile {
    /// The `p`-th percentile (0–100) of `sorted`, which must be in ascending order; nil when empty.
    public static func nearestRank<Samples: RandomAccessCollection>(_ p: Double, ofSorted sorted: Samples) -> Samples.Element?
    where Samples.Index == Int {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[sorted.startIndex + min(max(rank, 0), sorted.count - 1)]
    }

    /// The `p`-th percentile (0–100) of `samples` in any order; nil when empty.
    public static func nearestRank(_ p: Double, of samples: [Double]) -> Double? {
        nearestRank(p, ofSorted: samples.sorted())
    }
}
