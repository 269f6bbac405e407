import Synchronization

/// A small stock of byte arrays given back after use and handed out again, so that a steady
/// stream of equally sized frames or tensors allocates nothing.
///
/// `take(count:)` returns a recycled array of exactly `count` bytes when one is in stock, else a
/// new one; `recycle(_:)` keeps an array for the next `take` (up to `limit` arrays; more are
/// freed). Arrays keep their value semantics: one still shared elsewhere when it is written
/// again is copied by Swift's copy-on-write, never overwritten under its other owner.
public final class ByteBufferPool: Sendable {
    /// Arrays kept in stock at most.
    public let limit: Int
    private let stock = Mutex<[[UInt8]]>([])
    private let fresh = Atomic<Int>(0)

    /// Creates an empty pool that keeps at most `limit` arrays.
    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Arrays allocated by `take`: none of the right size was in stock, or the recycled one was
    /// still shared elsewhere and had to be copied.
    public var allocations: Int { fresh.load(ordering: .relaxed) }

    /// An array of exactly `count` bytes, contents unspecified (a recycled one, or a new one).
    public func take(count: Int) -> [UInt8] {
        // Oldest first: the array recycled longest ago is the least likely to be still referenced
        // by a copy its last user has not dropped yet.
        var recycled: [UInt8]? = stock.withLock { stock -> [UInt8]? in
            while !stock.isEmpty {
                let first = stock.removeFirst()
                if first.count == count { return first }
            }
            return nil
        }
        if recycled != nil {
            // Made unique now: an array still shared elsewhere is copied here, and counted.
            let before = recycled!.withUnsafeBytes { $0.baseAddress }
            let after = recycled!.withUnsafeMutableBytes { UnsafeRawPointer($0.baseAddress) }
            if before != after { fresh.add(1, ordering: .relaxed) }
            return recycled!
        }
        fresh.add(1, ordering: .relaxed)
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            // Bytes are written by the caller before use; zeroing them would touch every page twice.
            initialized = count
        }
    }

    /// Keeps `buffer` for a later `take` if there is room; otherwise it is freed.
    public func recycle(_ buffer: consuming [UInt8]) {
        let array = buffer
        guard !array.isEmpty else { return }
        stock.withLock { stock in
            if stock.count < limit { stock.append(array) }
        }
    }
}
