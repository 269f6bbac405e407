import Synchronization

/// A set of metric families, rendered together in the Prometheus text exposition format.
///
/// Families are registered once (registration order is exposition order); each family hands out
/// children per label-value tuple. Children are cached by the caller or looked up under one short
/// lock; recording into a child is an atomic or a short uncontended lock, so the frame loop can
/// record every frame without measurable cost.
public final class MetricsRegistry: Sendable {
    private let families = Mutex<[any MetricFamily]>([])

    /// Creates an empty registry.
    public init() {}

    /// Registers (or returns the already registered) counter family `name`.
    public func counter(_ name: String, help: String, labels: [String] = []) -> CounterFamily {
        register(CounterFamily(name: name, help: help, labelNames: labels))
    }

    /// Registers (or returns the already registered) gauge family `name`.
    public func gauge(_ name: String, help: String, labels: [String] = []) -> GaugeFamily {
        register(GaugeFamily(name: name, help: help, labelNames: labels))
    }

    /// Registers (or returns the already registered) histogram family `name` with bucket upper bounds.
    public func histogram(_ name: String, help: String, labels: [String] = [], buckets: [Double]) -> HistogramFamily {
        register(HistogramFamily(name: name, help: help, labelNames: labels, buckets: buckets))
    }

    private func register<F: MetricFamily>(_ family: F) -> F {
        families.withLock { list in
            if let existing = list.first(where: { $0.name == family.name }) {
                guard let same = existing as? F else {
                    preconditionFailure("metric \(family.name) registered twice with different types")
                }
                return same
            }
            list.append(family)
            return family
        }
    }

    /// The whole registry in the Prometheus text format, version 0.0.4.
    public func exposition() -> String {
        let list = families.withLock { $0 }
        var out = ""
        out.reserveCapacity(4096)
        for family in list { family.render(into: &out) }
        return out
    }
}

/// A named metric with HELP text, a type and labelled children.
public protocol MetricFamily: AnyObject, Sendable {
    /// The metric name (`kiln_frames_total`).
    var name: String { get }
    /// Appends this family's exposition lines to `out`.
    func render(into out: inout String)
}

/// Storage of a family's children keyed by label values, shared by all family kinds.
final class Children<Child: Sendable>: Sendable {
    let labelNames: [String]
    private let map = Mutex<[[String]: Child]>([:])
    private let make: @Sendable () -> Child

    init(labelNames: [String], make: @escaping @Sendable () -> Child) {
        self.labelNames = labelNames
        self.make = make
    }

    func child(_ values: [String]) -> Child {
        precondition(values.count == labelNames.count, "expected labels \(labelNames), got \(values)")
        return map.withLock { map in
            if let c = map[values] { return c }
            let c = make()
            map[values] = c
            return c
        }
    }

    func remove(_ values: [String]) { _ = map.withLock { $0.removeValue(forKey: values) } }
    func removeAll() { map.withLock { $0.removeAll() } }

    /// Children sorted by label values, for a stable exposition.
    func sorted() -> [([String], Child)] {
        map.withLock { $0.map { ($0.key, $0.value) } }.sorted { $0.0.lexicographicallyPrecedes($1.0) }
    }

    /// `a="x",b="y"` without braces (empty for no labels).
    func labelInner(_ values: [String]) -> String {
        var out = ""
        for (i, (name, value)) in zip(labelNames, values).enumerated() {
            if i > 0 { out += "," }
            out += name
            out += "=\""
            out += Exposition.escapeLabel(value)
            out += "\""
        }
        return out
    }

    func labelText(_ values: [String], extra: (String, String)? = nil) -> String {
        var pairs = zip(labelNames, values).map { ($0, $1) }
        if let extra { pairs.append(extra) }
        if pairs.isEmpty { return "" }
        return "{" + pairs.map { "\($0.0)=\"\(Exposition.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
    }
}

/// A monotonically increasing count.
public final class Counter: Sendable {
    private let value = Atomic<UInt64>(0)
    init() {}
    /// Adds `amount` (default 1).
    public func increment(by amount: UInt64 = 1) { value.wrappingAdd(amount, ordering: .relaxed) }
    /// The current count.
    public var count: UInt64 { value.load(ordering: .relaxed) }
}

/// A value that goes up and down; stored as the bit pattern of a Double in an atomic.
public final class Gauge: Sendable {
    private let bits = Atomic<UInt64>(0)
    init() {}
    /// Sets the value.
    public func set(_ v: Double) { bits.store(v.bitPattern, ordering: .relaxed) }
    /// Adds `delta` (compare-and-swap loop).
    public func add(_ delta: Double) {
        var old = bits.load(ordering: .relaxed)
        while true {
            let new = (Double(bitPattern: old) + delta).bitPattern
            let (exchanged, original) = bits.compareExchange(expected: old, desired: new, ordering: .relaxed)
            if exchanged { return }
            old = original
        }
    }
    /// The current value.
    public var value: Double { Double(bitPattern: bits.load(ordering: .relaxed)) }
}

/// A distribution of observations in cumulative buckets, with their sum and count.
public final class Histogram: Sendable {
    struct State {
        var counts: [UInt64]
        var sum: Double = 0
        var count: UInt64 = 0
    }
    /// Bucket upper bounds, ascending, without +Inf.
    public let upperBounds: [Double]
    private let state: Mutex<State>

    init(upperBounds: [Double]) {
        self.upperBounds = upperBounds
        self.state = Mutex(State(counts: Array(repeating: 0, count: upperBounds.count)))
    }

    /// Records one observation.
    public func observe(_ v: Double) {
        // Find the first bucket outside the lock; buckets are few, a linear scan is fastest.
        var i = 0
        while i < upperBounds.count && v > upperBounds[i] { i += 1 }
        state.withLock { s in
            if i < s.counts.count { s.counts[i] &+= 1 }
            s.sum += v
            s.count &+= 1
        }
    }

    /// The number of observations so far.
    public var count: UInt64 { state.withLock { $0.count } }
    /// The sum of observations so far.
    public var sum: Double { state.withLock { $0.sum } }

    func snapshot() -> State { state.withLock { $0 } }
}

/// A counter family: one `Counter` per label-value tuple.
public final class CounterFamily: MetricFamily {
    public let name: String
    let help: String
    let children: Children<Counter>

    init(name: String, help: String, labelNames: [String]) {
        self.name = name
        self.help = help
        self.children = Children(labelNames: labelNames) { Counter() }
    }

    /// The child for these label values (in the family's label order); created at zero.
    public func labels(_ values: String...) -> Counter { children.child(values) }
    /// The child for these label values.
    public func labels(_ values: [String]) -> Counter { children.child(values) }

    public func render(into out: inout String) {
        Exposition.header(name, help, "counter", into: &out)
        for (values, c) in children.sorted() {
            out += "\(name)\(children.labelText(values)) \(c.count)\n"
        }
    }
}

/// A gauge family: one `Gauge` per label-value tuple.
public final class GaugeFamily: MetricFamily {
    public let name: String
    let help: String
    let children: Children<Gauge>

    init(name: String, help: String, labelNames: [String]) {
        self.name = name
        self.help = help
        self.children = Children(labelNames: labelNames) { Gauge() }
    }

    /// The child for these label values; created at zero.
    public func labels(_ values: String...) -> Gauge { children.child(values) }
    /// The child for these label values.
    public func labels(_ values: [String]) -> Gauge { children.child(values) }
    /// Removes one child (a stream that ended, a model that was replaced).
    public func remove(_ values: String...) { children.remove(values) }
    /// Removes every child.
    public func removeAll() { children.removeAll() }

    public func render(into out: inout String) {
        Exposition.header(name, help, "gauge", into: &out)
        for (values, g) in children.sorted() {
            out += "\(name)\(children.labelText(values)) \(Exposition.format(g.value))\n"
        }
    }
}

/// A histogram family: one `Histogram` per label-value tuple, all with the same buckets.
public final class HistogramFamily: MetricFamily {
    public let name: String
    let help: String
    let buckets: [Double]
    let children: Children<Histogram>

    init(name: String, help: String, labelNames: [String], buckets: [Double]) {
        precondition(zip(buckets, buckets.dropFirst()).allSatisfy { $0 < $1 }, "buckets of \(name) must ascend")
        self.name = name
        self.help = help
        self.buckets = buckets
        self.children = Children(labelNames: labelNames) { Histogram(upperBounds: buckets) }
    }

    /// The child for these label values.
    public func labels(_ values: String...) -> Histogram { children.child(values) }
    /// The child for these label values.
    public func labels(_ values: [String]) -> Histogram { children.child(values) }

    public func render(into out: inout String) {
        Exposition.header(name, help, "histogram", into: &out)
        let boundTexts = buckets.map { Exposition.format($0) }
        for (values, h) in children.sorted() {
            let s = h.snapshot()
            let inner = children.labelInner(values)
            let bucketPrefix = inner.isEmpty ? "\(name)_bucket{le=\"" : "\(name)_bucket{\(inner),le=\""
            let plain = inner.isEmpty ? "" : "{\(inner)}"
            var cumulative: UInt64 = 0
            for i in buckets.indices {
                cumulative &+= s.counts[i]
                out += bucketPrefix
                out += boundTexts[i]
                out += "\"} "
                out += String(cumulative)
                out += "\n"
            }
            out += bucketPrefix + "+Inf\"} " + String(s.count) + "\n"
            out += "\(name)_sum\(plain) \(Exposition.format(s.sum))\n"
            out += "\(name)_count\(plain) \(s.count)\n"
        }
    }
}

/// Helpers of the Prometheus text format (escaping, number formatting).
enum Exposition {
    static func header(_ name: String, _ help: String, _ type: String, into out: inout String) {
        out += "# HELP \(name) \(escapeHelp(help))\n# TYPE \(name) \(type)\n"
    }

    static func escapeHelp(_ s: String) -> String {
        s.replacingAll("\\", "\\\\").replacingAll("\n", "\\n")
    }

    static func escapeLabel(_ s: String) -> String {
        s.replacingAll("\\", "\\\\").replacingAll("\"", "\\\"").replacingAll("\n", "\\n")
    }

    static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}

extension String {
    func replacingAll(_ target: Character, _ replacement: String) -> String {
        guard contains(target) else { return self }
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
