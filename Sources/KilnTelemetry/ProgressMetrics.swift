import Foundation
import KilnCore
import Synchronization

/// The progress of Kiln's long steps as Prometheus metrics, fed by `ProgressHub` events, so one
/// query lists the devices still pulling, building, gating or on probation and for how long:
///
/// - `kiln_rollout_step{step}`: 1 while a step of that kind runs, else 0 (every step is listed);
/// - `kiln_rollout_step_start_time_seconds{step}`: when the running step began (Unix time), so
///   `time() - kiln_rollout_step_start_time_seconds` is how long it has run;
/// - `kiln_pull_bytes_total` / `kiln_pull_bytes_expected`: bytes of pulled blobs held (resumed
///   bytes included) and the sizes of the blobs pulls set out to fetch, both since start;
/// - `kiln_build_seconds{backend,outcome}`: how long engine builds took;
/// - `kiln_build_phase{backend,phase}`: the phase a running build is in (its number, from 1).
public final class ProgressMetrics: Sendable {
    let step: GaugeFamily
    let stepStart: GaugeFamily
    let pullBytes: CounterFamily
    let pullExpected: GaugeFamily
    let buildSeconds: HistogramFamily
    let buildPhase: GaugeFamily
    private struct State {
        var running: [Int: ProgressStep] = [:]
        /// Per pull tracker: bytes already counted into `kiln_pull_bytes_total`.
        var counted: [Int: Int64] = [:]
        /// The build phase `kiln_build_phase` shows now.
        var phase: [String]?
    }
    private let state = Mutex(State())

    /// Registers the progress metrics in `registry`.
    public init(registry: MetricsRegistry) {
        step = registry.gauge("kiln_rollout_step", help: "1 while a step of this kind (pull, publish, build, gate, probation) runs.",
                              labels: ["step"])
        stepStart = registry.gauge("kiln_rollout_step_start_time_seconds",
                                   help: "Unix time the running step of this kind began (absent when none runs).", labels: ["step"])
        pullBytes = registry.counter("kiln_pull_bytes_total", help: "Bytes of pulled blobs held on disk, resumed bytes included.")
        pullExpected = registry.gauge("kiln_pull_bytes_expected", help: "Sizes of the blobs pulls set out to fetch, summed since start.")
        buildSeconds = registry.histogram("kiln_build_seconds", help: "Seconds engine builds took, by backend and outcome.",
                                          labels: ["backend", "outcome"], buckets: KilnMetrics.buildBuckets)
        buildPhase = registry.gauge("kiln_build_phase", help: "The phase a running engine build is in (its number, from 1).",
                                    labels: ["backend", "phase"])
        for s in ProgressStep.allCases { step.labels(s.rawValue).set(0) }
        _ = pullBytes.labels()
        pullExpected.labels().set(0)
    }

    /// Starts recording `hub`'s events; returns the registration.
    @discardableResult
    public func install(on hub: ProgressHub = .shared) -> ProgressHub.Observation {
        hub.observe { [self] event in record(event) }
    }

    /// Records one progress event.
    public func record(_ event: ProgressEvent) {
        let s = event.snapshot
        switch event {
        case .began:
            let first = state.withLock { st -> Bool in
                let first = !st.running.values.contains(s.step)
                st.running[s.id] = s.step
                return first
            }
            step.labels(s.step.rawValue).set(1)
            if first { stepStart.labels(s.step.rawValue).set(Date().timeIntervalSince1970 - s.elapsed) }
            if s.step == .pull, s.unit == .bytes { pullExpected.labels().add(Double(s.total ?? 0)) }
            countPull(s)
            buildPhaseChanged(s)
        case .updated:
            countPull(s)
            buildPhaseChanged(s)
        case .finished:
            countPull(s)
            let last = state.withLock { st -> Bool in
                st.running.removeValue(forKey: s.id)
                st.counted.removeValue(forKey: s.id)
                return !st.running.values.contains(s.step)
            }
            if last {
                step.labels(s.step.rawValue).set(0)
                stepStart.remove(s.step.rawValue)
            }
            if s.step == .build {
                let backend = s.backend ?? "unknown"
                buildPhase.removeAll()
                state.withLock { $0.phase = nil }
                buildSeconds.labels(backend, s.outcome?.rawValue ?? "failed").observe(s.elapsed)
            }
        }
    }

    /// Adds a pull's newly held bytes to the counter (a restarted download adds nothing until it
    /// passes what was counted).
    private func countPull(_ s: ProgressSnapshot) {
        guard s.step == .pull, s.unit == .bytes else { return }
        let delta = state.withLock { st -> Int64 in
            let before = st.counted[s.id] ?? 0
            guard s.done > before else { return 0 }
            st.counted[s.id] = s.done
            return s.done - before
        }
        if delta > 0 { pullBytes.labels().increment(by: UInt64(delta)) }
    }

    private func buildPhaseChanged(_ s: ProgressSnapshot) {
        guard s.step == .build, let phase = s.phase else { return }
        let backend = s.backend ?? "unknown"
        let number = Double(s.unit == .phases ? s.done + 1 : s.done)
        let changed = state.withLock { st -> Bool in
            defer { st.phase = [backend, phase] }
            return st.phase != [backend, phase]
        }
        if changed { buildPhase.removeAll() }
        buildPhase.labels(backend, phase).set(number)
    }
}
