/// One step's progress at one moment: what the renderer draws, `/status` shows and metrics export.
public struct ProgressSnapshot: Sendable, Equatable, Encodable {
    /// The tracker's identity within this process (steps of one kind may overlap).
    public var id: Int
    /// The kind of step.
    public var step: ProgressStep
    /// What the step works on, for people: `sha256:ab12cd34 from HOST/REPO`, a model name.
    public var subject: String
    /// The backend of a build step (`tensorrt`, `reference`); nil for other steps.
    public var backend: String?
    /// The current phase, for people (`tactic selection`); nil when the step has no phases.
    public var phase: String?
    /// What `done` and `total` count.
    public var unit: ProgressUnit
    /// Units done so far (bytes held, phases finished, seconds elapsed).
    public var done: Int64
    /// Units in all, when known.
    public var total: Int64?
    /// Seconds since the step began.
    public var elapsed: Double
    /// Units per second over the last few seconds; nil until enough time has passed.
    public var rate: Double?
    /// How the step ended; nil while it runs.
    public var outcome: ProgressOutcome?

    enum CodingKeys: String, CodingKey {
        case step, subject, backend, phase, unit, done, total, rate, outcome, fraction
        case elapsed = "elapsed_seconds", eta = "eta_seconds"
    }

    /// Encodes the snapshot for `/status`: the fields plus `fraction` and `eta_seconds` when known.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(step, forKey: .step)
        try c.encode(subject, forKey: .subject)
        try c.encodeIfPresent(backend, forKey: .backend)
        try c.encodeIfPresent(phase, forKey: .phase)
        try c.encode(unit, forKey: .unit)
        try c.encode(done, forKey: .done)
        try c.encodeIfPresent(total, forKey: .total)
        try c.encode((elapsed * 10).rounded() / 10, forKey: .elapsed)
        try c.encodeIfPresent(rate.map { $0.rounded() }, forKey: .rate)
        try c.encodeIfPresent(eta.map { $0.rounded() }, forKey: .eta)
        try c.encodeIfPresent(fraction, forKey: .fraction)
        try c.encodeIfPresent(outcome, forKey: .outcome)
    }

    /// `done / total` from 0 to 1, when the total is known and positive.
    public var fraction: Double? {
        guard let total, total > 0 else { return nil }
        return min(1, max(0, Double(done) / Double(total)))
    }

    /// Seconds left at the current rate (or, for a fixed wait, the time left); nil when unknown.
    public var eta: Double? {
        guard let total else { return nil }
        let left = Double(max(0, total - done))
        if unit == .seconds { return left }
        guard let rate, rate > 0 else { return nil }
        return left / rate
    }
}
