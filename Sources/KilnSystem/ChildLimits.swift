import Foundation
import Glibc

/// The bounds of an isolated child (an engine build, a candidate's first inferences): how much
/// memory it may take and how long it may run.
///
/// The parent passes `arguments` to the child, which calls `applyToSelf` before it reads any
/// untrusted input: `RLIMIT_DATA` (heap and private writable mappings, where a model's tensors
/// live) is the memory limit, `RLIMIT_AS` the limit plus `addressHeadroomBytes` (thread stacks
/// and malloc arenas reserve address space they never use) unless `limitsAddressSpace` is false,
/// and where the agent may create a cgroup v2 child with the memory controller (`MemoryCgroup`),
/// the child joins it, so the kernel's OOM killer picks the child and never the agent. The
/// parent enforces the timeout.
///
/// TensorRT (CUDA) children get no `RLIMIT_AS`: `cuInit` reserves the GPU's unified virtual
/// address range in the process (tens to hundreds of GiB of `PROT_NONE` mappings on a discrete
/// GPU, several GiB on a Jetson) and fails with "out of memory" under any address-space limit
/// that would bound real use. `RLIMIT_DATA` counts only private writable mappings (Linux >= 4.7):
/// the heap and anonymous memory where the builder's host allocations live, not those
/// reservations nor the driver's shared device mappings, so it bounds what a build really takes.
public struct ChildLimits: Sendable, Equatable {
    /// Bytes of data the child may allocate; nil: unlimited.
    public var memoryBytes: Int?
    /// Seconds the child may run before its process group is SIGKILLed.
    public var timeoutSeconds: Double
    /// False for children that initialise CUDA: only `RLIMIT_DATA` and the cgroup bound them.
    public var limitsAddressSpace: Bool

    /// Address space allowed beyond `memoryBytes` (reservations, not memory).
    public static let addressHeadroomBytes = 4 << 30

    /// Creates limits; `limitsAddressSpace: false` for a child that initialises CUDA.
    public init(memoryBytes: Int?, timeoutSeconds: Double = 1800, limitsAddressSpace: Bool = true) {
        self.memoryBytes = memoryBytes
        self.timeoutSeconds = timeoutSeconds
        self.limitsAddressSpace = limitsAddressSpace
    }

    /// The flag that carries the memory limit to the child.
    public static let memoryFlag = "--memory-limit"
    /// The flag that names the cgroup the child joins.
    public static let cgroupFlag = "--cgroup"
    /// The flag that keeps the child's address space unlimited (CUDA's reservations).
    public static let noAddressLimitFlag = "--no-address-limit"

    /// The child's arguments for these limits, with the cgroup `cgroup` when one was made.
    public func arguments(cgroup: MemoryCgroup? = nil) -> [String] {
        var result: [String] = []
        if let memoryBytes { result += [Self.memoryFlag, String(memoryBytes)] }
        if memoryBytes != nil, !limitsAddressSpace { result.append(Self.noAddressLimitFlag) }
        if let cgroup { result += [Self.cgroupFlag, cgroup.path] }
        return result
    }

    /// A description for messages: `a 256 MiB memory limit and a 1800 s timeout`.
    public var description: String {
        (memoryBytes.map { "a \(ByteCountText.text($0)) memory limit" } ?? "no memory limit") + " and a \(Int(timeoutSeconds)) s timeout"
    }

    /// In the child: joins `cgroup` (when given) and limits this process to `memoryBytes`
    /// (when given; its address space too unless `addressSpace` is false), never raising a limit
    /// it already has. Throws when a limit cannot be set: a child must never run unbounded by mistake.
    public static func applyToSelf(memoryBytes: Int?, cgroup: String?, addressSpace: Bool = true) throws(SystemError) {
        if let cgroup {
            let procs = cgroup + "/cgroup.procs"
            let fd = open(procs, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SystemError("join the cgroup", path: procs, errno: Errno.current) }
            defer { close(fd) }
            let pid = Array("\(getpid())\n".utf8)
            guard write(fd, pid, pid.count) == pid.count else { throw SystemError("join the cgroup", path: procs, errno: Errno.current) }
        }
        guard let memoryBytes else { return }
        let data = rlim_t(max(1 << 20, memoryBytes))
        let (address, overflow) = memoryBytes.addingReportingOverflow(addressHeadroomBytes)
        var limits: [(__rlimit_resource_t, rlim_t)] = [(__rlimit_resource_t(RLIMIT_DATA.rawValue), data)]
        if addressSpace, !overflow { limits.append((__rlimit_resource_t(RLIMIT_AS.rawValue), rlim_t(address))) }
        for (resource, wanted) in limits {
            // Never above what this process already has (an outer `ulimit -v`, systemd's LimitAS=).
            var current = rlimit()
            let value = getrlimit(resource, &current) == 0 ? min(wanted, current.rlim_max) : wanted
            var limit = rlimit(rlim_cur: value, rlim_max: value)
            guard setrlimit(resource, &limit) == 0 else {
                throw SystemError("setrlimit(\(resource == __rlimit_resource_t(RLIMIT_DATA.rawValue) ? "RLIMIT_DATA" : "RLIMIT_AS"), \(value))", path: "self", errno: Errno.current)
            }
        }
    }
}
