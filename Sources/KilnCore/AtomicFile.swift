import Glibc

/// Durable file operations: atomic replacement (temporary file in the same directory, fsync,
/// rename, fsync of the directory), whole-file reads and directory syncs.
enum AtomicFile {
    /// The marker every temporary file name carries, so `gc` can find what a dead writer left.
    static let temporaryMarker = ".tmp-"

    /// Writes `bytes` to `path` atomically: readers see the old file or the complete new one.
    ///
    /// `progress` is called after the first chunk of a multi-chunk write (`partial: true`) and once
    /// the temporary file is complete and synced, before the rename (`partial: false`).
    static func write(_ bytes: [UInt8], to path: String, chunkSize: Int = 1 << 20,
                      progress: ((_ partial: Bool) -> Void)? = nil) throws {
        let (dir, name) = split(path)
        let temp = "\(dir)/.\(name)\(temporaryMarker)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineCacheError.io(path: temp, operation: "create", errno: errno) }
        var ok = false
        defer {
            if !ok {
                close(fd)
                unlink(temp)
            }
        }
        var offset = 0
        try bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = min(chunkSize, raw.count - offset)
                let written = Glibc.write(fd, raw.baseAddress! + offset, n)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw EngineCacheError.io(path: temp, operation: "write", errno: errno)
                }
                offset += written
                if offset < raw.count, offset <= chunkSize { progress?(true) }
            }
        }
        guard fsync(fd) == 0 else { throw EngineCacheError.io(path: temp, operation: "fsync", errno: errno) }
        progress?(false)
        guard close(fd) == 0 else {
            ok = true
            unlink(temp)
            throw EngineCacheError.io(path: temp, operation: "close", errno: errno)
        }
        ok = true
        guard rename(temp, path) == 0 else {
            let e = errno
            unlink(temp)
            throw EngineCacheError.io(path: path, operation: "rename into place", errno: e)
        }
        try syncDirectory(dir)
    }

    /// fsyncs a directory so a rename or unlink in it survives a power cut.
    static func syncDirectory(_ dir: String) throws {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw EngineCacheError.io(path: dir, operation: "open directory", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw EngineCacheError.io(path: dir, operation: "fsync directory", errno: errno) }
    }

    /// The whole file, or `nil` when it (or a directory on its path) does not exist.
    static func read(_ path: String) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw EngineCacheError.io(path: path, operation: "open", errno: errno)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw EngineCacheError.io(path: path, operation: "stat", errno: errno) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var offset = 0
        try bytes.withUnsafeMutableBytes { raw in
            while offset < raw.count {
                let n = Glibc.read(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw EngineCacheError.io(path: path, operation: "read", errno: errno)
                }
                if n == 0 { break }
                offset += n
            }
        }
        if offset < bytes.count { bytes.removeSubrange(offset...) }
        return bytes
    }

    /// The size of the file at `path` in bytes, or `nil` when it does not exist.
    static func size(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    /// Removes `path`; true if it existed.
    @discardableResult
    static func remove(_ path: String) -> Bool { unlink(path) == 0 }

    /// Directory and file name of `path`.
    static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        return (slash == path.startIndex ? "/" : String(path[..<slash]), String(path[path.index(after: slash)...]))
    }
}
