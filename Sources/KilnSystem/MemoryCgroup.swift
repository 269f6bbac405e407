import Foundation
import Glibc

/// A cgroup v2 child of the agent's own cgroup with `memory.max` set, for one isolated child
/// process (it joins with `ChildLimits.applyToSelf`): over the limit, the kernel reclaims and
/// then OOM-kills inside this group only, never the agent.
///
/// Made only where it can be: a unified hierarchy, the agent's cgroup writable and the memory
/// controller enabled for its children (systemd's `Delegate=memory` with the agent in a leaf).
/// Elsewhere `make` returns nil and the rlimits alone bound the child.
public struct MemoryCgroup: Sendable {
    /// The cgroup's directory.
    public let path: String

    /// A new cgroup under this process's own, limited to `memoryBytes`; nil where none can be made.
    /// `root` is where the unified hierarchy is mounted.
    public static func make(memoryBytes: Int, root: String = "/sys/fs/cgroup") -> MemoryCgroup? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) else { return nil }
        let own = root + String(line.dropFirst(3))
        guard let controllers = try? String(contentsOfFile: own + "/cgroup.subtree_control", encoding: .utf8),
              controllers.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("memory") else { return nil }
        let path = own + "/kiln-child-\(getpid())-\(UUID().uuidString.prefix(8))"
        guard mkdir(path, 0o755) == 0 else { return nil }
        let cgroup = MemoryCgroup(path: path)
        let value = Array("\(memoryBytes)\n".utf8)
        let fd = open(path + "/memory.max", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            cgroup.remove()
            return nil
        }
        let written = write(fd, value, value.count)
        close(fd)
        guard written == value.count else {
            cgroup.remove()
            return nil
        }
        // No swap: a child over its limit is killed rather than paging the device to a halt.
        if let swap = Optional(open(path + "/memory.swap.max", O_WRONLY | O_CLOEXEC)), swap >= 0 {
            _ = write(swap, "0\n", 2)
            close(swap)
        }
        return cgroup
    }

    /// Removes the (empty) cgroup once its child has exited.
    public func remove() {
        _ = rmdir(path)
    }
}
