import Foundation
import Glibc
import KilnCore

/// Atomic file writes: a temporary file in the same directory, fsync, rename, fsync the directory.
///
/// A reader sees either the old file or the complete new one, never a partial write, even
/// across a power loss.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically, creating parent directories.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try createDirectory(dir)
        let tmp = "\(dir)/.\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ioError("create \(tmp)") }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    let e = ioError("write \(tmp)")
                    close(fd)
                    throw e
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else {
            let e = ioError("fsync \(tmp)")
            close(fd)
            throw e
        }
        close(fd)
        try commit(tmp, to: path)
        ok = true
    }

    /// Renames a complete, already fsynced file into place and fsyncs its directory.
    public static func commit(_ tmp: String, to path: String) throws {
        guard rename(tmp, path) == 0 else { throw ioError("rename \(tmp) to \(path)") }
        syncDirectory((path as NSString).deletingLastPathComponent)
    }

    /// fsyncs a file by path.
    public static func sync(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("open \(path)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw ioError("fsync \(path)") }
    }

    /// Copies `source` to `path` atomically, returning the sha256 of the bytes copied.
    @discardableResult
    public static func copy(_ source: String, to path: String) throws -> Digest {
        let dir = (path as NSString).deletingLastPathComponent
        try createDirectory(dir)
        let tmp = "\(dir)/.\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: tmp, contents: nil),
              let out = FileHandle(forWritingAtPath: tmp) else { throw ioError("create \(tmp)") }
        guard let input = FileHandle(forReadingAtPath: source) else {
            try? out.close()
            unlink(tmp)
            throw RegistryError(.io, "cannot read \(source): \(String(cString: strerror(errno)))")
        }
        var hasher = SHA256()
        do {
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                hasher.update(chunk)
                try out.write(contentsOf: chunk)
            }
            try out.synchronize()
            try out.close()
            try input.close()
            try commit(tmp, to: path)
        } catch {
            try? out.close()
            unlink(tmp)
            throw RegistryError(.io, "copying \(source) to \(path) failed: \(error)")
        }
        return Digest(hex: hasher.finalizeHex())
    }

    /// Creates a directory and its parents.
    public static func createDirectory(_ dir: String) throws {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw RegistryError(.io, "cannot create directory \(dir): \(error.localizedDescription)")
        }
    }

    static func syncDirectory(_ dir: String) {
        let fd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    static func ioError(_ what: String) -> RegistryError {
        RegistryError(.io, "cannot \(what): \(String(cString: strerror(errno)))")
    }
}

/// Streaming file digests.
public enum FileDigest {
    /// The sha256 and size of the file at `path`, read in 1 MiB pieces.
    public static func of(path: String) throws -> (digest: Digest, size: Int64) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw RegistryError(.io, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size: Int64 = 0
        do {
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                hasher.update(chunk)
                size += Int64(chunk.count)
            }
        } catch {
            throw RegistryError(.io, "cannot read \(path): \(error)")
        }
        return (Digest(hex: hasher.finalizeHex()), size)
    }
}
