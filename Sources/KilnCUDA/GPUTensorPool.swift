import Dispatch
import KilnCore
import Synchronization

/// A fixed set of equally sized GPU buffers lent out as tensor storage: the frame path's device
/// tensors without a per-frame allocation.
///
/// `acquire()` lends a buffer and the lease returns it when the last `DeviceTensor` referring to
/// it is released, so a buffer is never rewritten while a tensor still reads it. When every
/// buffer is out, `acquire()` waits (backpressure on the producer) up to `timeout` seconds, then
/// throws. On integrated GPUs (Jetson) the buffers are mapped pinned host memory: the device
/// writes them in place and a host reader copies nothing over a bus.
public final class GPUTensorPool: Sendable {
    /// The context the buffers live in.
    public let context: CUDAContext
    /// Bytes per buffer.
    public let byteCount: Int
    /// Buffers in the pool.
    public let capacity: Int
    /// True when the buffers are mapped pinned host memory (integrated GPUs).
    public let mapped: Bool
    /// Seconds `acquire()` waits for a buffer before it reports the pool exhausted.
    public let timeout: Double
    private let free: Mutex<[Slot]>
    private let available: DispatchSemaphore

    /// One buffer and the stream its downloads are queued on.
    final class Slot: Sendable {
        let device: DeviceBuffer?
        let pinned: PinnedHostBuffer?
        let stream: CUDAStream
        let address: CUdeviceptr

        init(context: CUDAContext, byteCount: Int, mapped: Bool) throws(CUDAError) {
            stream = try CUDAStream(context: context)
            if mapped {
                let p = try PinnedHostBuffer(context: context, byteCount: byteCount, mapped: true)
                guard let d = p.deviceAddress else { throw .invalidArgument("GPUTensorPool: mapped buffer has no device address") }
                pinned = p
                device = nil
                address = d
            } else {
                let d = try DeviceBuffer(context: context, byteCount: byteCount)
                device = d
                pinned = nil
                address = d.address
            }
        }
    }

    /// Allocates `capacity` buffers of `byteCount` bytes in `context`; `mapped` uses mapped
    /// pinned host memory (defaults to the device being integrated and able to map it).
    public init(context: CUDAContext, byteCount: Int, capacity: Int, mapped: Bool? = nil, timeout: Double = 30) throws(CUDAError) {
        guard capacity > 0 else { throw .invalidArgument("GPUTensorPool: capacity must be positive, got \(capacity)") }
        self.context = context
        self.byteCount = byteCount
        self.capacity = capacity
        self.mapped = context.device.canMapHostMemory && (mapped ?? context.device.integrated)
        self.timeout = timeout
        var slots: [Slot] = []
        for _ in 0..<capacity { slots.append(try Slot(context: context, byteCount: byteCount, mapped: self.mapped)) }
        free = Mutex(slots)
        available = DispatchSemaphore(value: capacity)
    }

    /// Buffers not lent out right now.
    public var freeCount: Int { free.withLock { $0.count } }

    /// Lends one buffer, waiting while all are out; throws when none comes back within `timeout`.
    public func acquire() throws(CUDAError) -> Lease {
        guard available.wait(timeout: .now() + timeout) == .success else {
            throw .invalidArgument("GPUTensorPool: all \(capacity) buffers of \(byteCount) bytes stayed in use for \(timeout) s; a consumer holds device tensors without releasing them")
        }
        let slot = free.withLock { $0.removeLast() }
        return Lease(pool: self, slot: slot)
    }

    fileprivate func giveBack(_ slot: Slot) {
        free.withLock { $0.append(slot) }
        available.signal()
    }

    /// One lent buffer; returned to the pool when released. Storage for a `DeviceTensor`.
    public final class Lease: DeviceTensorStorage {
        private let pool: GPUTensorPool
        private let slot: Slot

        fileprivate init(pool: GPUTensorPool, slot: Slot) {
            self.pool = pool
            self.slot = slot
        }

        deinit { pool.giveBack(slot) }

        /// The buffer's device address.
        public var deviceAddress: UInt64 { slot.address }
        /// The buffer's size in bytes.
        public var byteCount: Int { pool.byteCount }
        /// The GPU the buffer is on.
        public var deviceIndex: Int { pool.context.device.index }

        /// Copies `count` bytes to `destination`: one device-to-host copy, or a plain read of
        /// mapped memory on integrated GPUs.
        public func copyToHost(_ destination: UnsafeMutableRawPointer, count: Int) throws {
            guard count <= pool.byteCount else {
                throw CUDAError.invalidArgument("GPUTensorPool: a \(count)-byte read from a \(pool.byteCount)-byte buffer")
            }
            if let pinned = slot.pinned {
                destination.copyMemory(from: pinned.pointer, byteCount: count)
            } else if let device = slot.device {
                try device.download(to: destination, count: count, stream: slot.stream)
                try slot.stream.synchronize()
            }
        }
    }
}
