import Foundation
import KilnCore
import KilnRegistry
import KilnTestSupport
import Testing

/// How one registry fares under a fleet polling one tag: the arithmetic in README's
/// "Fleet scale" section, checked by simulation (virtual time, the real `PollSchedule`) and by
/// a small fleet of real clients against a real registry through an outage.
@Suite struct FleetSimulationTests {
    /// Requests per 1-second bucket over `seconds`, for `devices` independent pollers.
    struct Run {
        var buckets: [Int]
        var lastRecovery: Double
        func mean(_ range: Range<Int>) -> Double { Double(buckets[range].reduce(0, +)) / Double(range.count) }
        func peak(_ range: Range<Int>) -> Int { buckets[range].max() ?? 0 }
    }

    /// Simulates `devices` polling every `schedule` from `start(d)`; the registry fails every
    /// request in `outage`. A failed poll backs off by `failureDelay` (default: the schedule's).
    static func simulate(devices: Int, seconds: Int, schedule: PollSchedule, outage: Range<Double>?,
                         start: (Int, inout SplitMix) -> Double,
                         failureDelay: ((Int, Double) -> Double)? = nil) -> Run {
        var rng = SplitMix(seed: 42)
        var buckets = [Int](repeating: 0, count: seconds)
        var lastRecovery = 0.0
        for d in 0..<devices {
            var t = start(d, &rng)
            var failures = 0
            while t < Double(seconds) {
                buckets[Int(t)] += 1
                let down = outage?.contains(t) ?? false
                if down {
                    failures += 1
                } else {
                    if failures > 0, let o = outage, t >= o.upperBound { lastRecovery = max(lastRecovery, t - o.upperBound) }
                    failures = 0
                }
                let r = rng.next()
                t += failures > 0 ? (failureDelay?(failures, r) ?? schedule.delay(failures: failures, random: r))
                                  : schedule.delay(failures: 0, random: r)
            }
        }
        return Run(buckets: buckets, lastRecovery: lastRecovery)
    }

    /// A small deterministic generator so the simulation is reproducible.
    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
    }

    @Test func jitterAndBackoffKeepTheRegistryLoadNearItsSteadyRateThroughAnOutage() {
        let devices = 10_000, interval = 60.0
        let steady = Double(devices) / interval  // 166.7 HEAD/s
        let schedule = PollSchedule(interval: interval, jitter: 0.2)  // backoff 5 s doubling to 120 s
        let outage = 600.0..<900.0  // five minutes down

        // Devices whose phases are already spread (the normal state).
        let spread: (Int, inout SplitMix) -> Double = { _, rng in rng.next() * interval }
        let withBackoff = Self.simulate(devices: devices, seconds: 1500, schedule: schedule, outage: outage, start: spread)
        // Naive clients: a fixed 5 s retry, no jitter.
        let naive = Self.simulate(devices: devices, seconds: 1500, schedule: schedule, outage: outage, start: spread,
                                  failureDelay: { _, _ in 5 })

        let before = withBackoff.mean(120..<600)
        let during = withBackoff.mean(660..<900)
        let peakAfter = withBackoff.peak(900..<1000)
        let naiveDuring = naive.mean(660..<900)
        let naivePeakAfter = naive.peak(900..<1000)
        print(String(format: "fleet: %d devices, %.0f s ±20%%: steady %.1f HEAD/s (expected %.1f); outage: backoff %.1f/s vs fixed-5s retry %.1f/s; after: backoff peak %d/s (recovered within %.0f s) vs fixed-retry peak %d/s",
                     devices, interval, before, steady, during, naiveDuring, peakAfter, withBackoff.lastRecovery, naivePeakAfter))

        #expect(abs(before - steady) / steady < 0.05)
        #expect(withBackoff.peak(120..<600) < Int(steady * 1.6))
        // During the outage backoff keeps the load near the steady rate; fixed retries multiply it.
        #expect(during < steady * 1.2)
        #expect(naiveDuring > steady * 10)
        // When the registry returns there is no spike: the retries were spread over the backoff window.
        #expect(peakAfter < Int(steady * 2))
        #expect(naivePeakAfter > Int(steady * 10))
        // And every device is back within one backoff ceiling (120 s).
        #expect(withBackoff.lastRecovery <= schedule.backoffCap)
    }

    @Test func jitterDesynchronisesAFleetThatBootedTogether() {
        let devices = 10_000, interval = 60.0
        let together: (Int, inout SplitMix) -> Double = { _, _ in 0 }
        let jittered = Self.simulate(devices: devices, seconds: 1800, schedule: PollSchedule(interval: interval, jitter: 0.2),
                                     outage: nil, start: together)
        let lockstep = Self.simulate(devices: devices, seconds: 1800, schedule: PollSchedule(interval: interval, jitter: 0),
                                     outage: nil, start: together)
        let steady = Double(devices) / interval
        print("fleet boot: peak HEAD/s in minutes 20-30: jitter 20% \(jittered.peak(1200..<1800)), no jitter \(lockstep.peak(1200..<1800)) (steady mean \(Int(steady)))")
        #expect(lockstep.peak(1200..<1800) == devices)
        #expect(jittered.peak(1200..<1800) < Int(steady * 2))
    }

    @Test func realClientsBackOffThroughARegistryOutageAndAllRecover() async throws {
        try await RegistryServer.withScratch { registry, dir in
            let model = try Fixtures.modelFile(in: dir, size: 1000, seed: 20)
            let publisher = Fixtures.client(registry)
            let digest = try await Fixtures.publish(model, to: "\(registry.host)/fleet/poll:prod", client: publisher, work: dir)
            let ref = try RegistryReference(parsing: "\(registry.host)/fleet/poll:prod")
            let schedule = PollSchedule(interval: 0.5, jitter: 0.2, backoffBase: 0.2, backoffCap: 1.0)
            let devices = 20
            let t0 = MonotonicClock.now
            let outageStart = 1.5, outageEnd = 3.5, end = 6.0

            let outage = Task.detached {
                try await Task.sleep(for: .seconds(outageStart))
                registry.halt()
                try await Task.sleep(for: .seconds(outageEnd - outageStart))
                try registry.restart()
            }
            let results = try await withThrowingTaskGroup(of: (ok: Int, failedInOutage: Int, okAfter: Int).self) { group in
                for _ in 0..<devices {
                    group.addTask {
                        // One device: its own client (no internal retries: the schedule decides).
                        let client = RegistryClient(configuration: .init(insecureHosts: [registry.host], retry: .none, idleTimeout: 2))
                        var ok = 0, failedInOutage = 0, okAfter = 0, failures = 0
                        try await Task.sleep(for: .seconds(Double.random(in: 0..<0.5)))
                        while MonotonicClock.now - t0 < end {
                            let now = MonotonicClock.now - t0
                            do {
                                let seen = try await client.resolve(ref).digest
                                #expect(seen == digest)
                                ok += 1
                                failures = 0
                                if now > outageEnd { okAfter += 1 }
                            } catch {
                                failures += 1
                                failedInOutage += 1
                            }
                            try await Task.sleep(for: .seconds(schedule.delay(failures: failures)))
                        }
                        return (ok, failedInOutage, okAfter)
                    }
                }
                var all: [(ok: Int, failedInOutage: Int, okAfter: Int)] = []
                for try await r in group { all.append(r) }
                return all
            }
            try await outage.value
            let failedPerDevice = results.map(\.failedInOutage)
            print("real fleet: \(devices) clients, 2 s outage: failed polls per device \(failedPerDevice.min()!)–\(failedPerDevice.max()!), successful polls after recovery \(results.map(\.okAfter).min()!)–\(results.map(\.okAfter).max()!)")
            // Every device saw the registry again after the outage.
            #expect(results.allSatisfy { $0.okAfter > 0 })
            // Backoff: over a 2 s outage a device retried a handful of times, not every few ms.
            #expect(failedPerDevice.allSatisfy { $0 <= 12 })
        }
    }
}
