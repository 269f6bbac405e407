/// Greedy non-maximum suppression.
public enum NonMaximumSuppression {
    /// Keeps the highest-scoring detections, dropping any that overlap a kept one of the same
    /// class (or of any class when `classAware` is false) by more than `iouThreshold`; at most
    /// `maxDetections`, highest score first.
    public static func apply(_ detections: [Detection], iouThreshold: Float, classAware: Bool = true,
                             maxDetections: Int = 300) -> [Detection] {
        let sorted = detections.sorted { $0.score != $1.score ? $0.score > $1.score : $0.classId < $1.classId }
        var kept: [Detection] = []
        kept.reserveCapacity(min(sorted.count, maxDetections))
        for d in sorted {
            if kept.count == maxDetections { break }
            var suppressed = false
            for k in kept where (!classAware || k.classId == d.classId) && k.box.iou(d.box) > iouThreshold {
                suppressed = true
                break
            }
            if !suppressed { kept.append(d) }
        }
        return kept
    }
}
