import Glibc

/// Kiln's one durable file writer: a temporary file in the same directory, fsync, rename, fsync
/// of the directory. A reader sees the old file or the complete new one, never a partial write,
/// even across a power cut. Also whole-file reads and the directory helpers that go with them.
public enum AtomicFile {
    /// The marker every temporary file name carries, so a cleanup can find what a dead writer left.
    public static let temporaryMarker = ".tmp-"

    /// Writes `bytes` to `path` atomically, creating missing parent directories.
    ///
    /// `progress` is called after the first chunk of a multi-chunk write (`partial: true`) and once
    /// the temporary file is complete and synced, before the rename (`partial: false`).
    public static func write(_ bytes: [UInt8], to path: String, chunkSize: Int = 1 << 20,
                             progress: ((_ partial: Bool) -> Void)? = nil) throws(SystemError) {
        try replace(path) { (temp, fd) throws(SystemError) in
            var offset = 0
            while offset < bytes.count {
                let n = min(chunkSize, bytes.count - offset)
                try bytes.withUnsafeBytes { raw in
                    Result { () throws(SystemError) in
                        try fd.writeAll(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + n]), path: temp)
                    }
                }.get()
                offset += n
                if offset < bytes.count, offset <= chunkSize { progress?(true) }
            }
            try fd.sync(path: temp)
            progress?(false)
        }
    }

    /// Copies `source` to `path` atomically, returning the lower-case hex SHA-256 of the bytes copied.
    @discardableResult
    public static func copy(_ source: String, to path: String) throws(SystemError) -> String {
        let input = try FileDescriptor.open(source, .readOnly)
        defer { input.closeIgnoringErrors() }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        try replace(path) { (temp, output) throws(SystemError) in
            while true {
                let n = try buffer.withUnsafeMutableBytes { raw in
                    Result { () throws(SystemError) in try input.read(into: raw, path: source) }
                }.get()
                if n == 0 { break }
                hasher.update(buffer[0..<n])
                try buffer.withUnsafeBytes { raw in
                    Result { () throws(SystemError) in try output.writeAll(UnsafeRawBufferPointer(rebasing: raw[0..<n]), path: temp) }
                }.get()
            }
            try output.sync(path: temp)
        }
        return hasher.finalizeHex()
    }

    /// Creates a temporary file next to `path`, lets `fill` write and sync it, then renames it into
    /// place; on any failure the temporary file is removed and `path` is untouched.
    private static func replace(_ path: String,
                                _ fill: (_ temp: String, _ fd: FileDescriptor) throws(SystemError) -> Void) throws(SystemError) {
        let (temp, fd) = try createTemporary(for: path)
        do throws(SystemError) { try fill(temp, fd) } catch {
            fd.closeIgnoringErrors()
            unlink(temp)
            throw error
        }
        do throws(SystemError) {
            try fd.close(path: temp)
            try commit(temp, to: path)
        } catch {
            unlink(temp)
            throw error
        }
    }

    /// Renames a complete, already synced file into place and fsyncs its directory.
    public static func commit(_ temporary: String, to path: String) throws(SystemError) {
        try Posix.call("rename \(temporary) into place as", path: path) { rename(temporary, path) }
        try syncDirectory(split(path).directory)
    }

    /// fsyncs the file at `path`.
    public static func sync(_ path: String) throws(SystemError) {
        let fd = try FileDescriptor.open(path, .readOnly)
        defer { fd.closeIgnoringErrors() }
        try fd.sync(path: path)
    }

    /// fsyncs a directory so a rename or unlink in it survives a power cut.
    public static func syncDirectory(_ directory: String) throws(SystemError) {
        let fd = try FileDescriptor.open(directory.isEmpty ? "." : directory, .readOnly, options: .directory)
        defer { fd.closeIgnoringErrors() }
        try Posix.call("fsync directory", path: directory) { fsync(fd.rawValue) }
    }

    /// Creates `directory` and its missing parents (mode 0755 before the umask).
    public static func createDirectory(_ directory: String) throws(SystemError) {
        guard !directory.isEmpty, directory != "/" else { return }
        var st = stat()
        if stat(directory, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw SystemError("create directory", path: directory, errno: .notDirectory) }
            return
        }
        let parent = split(directory).directory
        if parent != directory { try createDirectory(parent) }
        if mkdir(directory, 0o755) != 0, errno != EEXIST {
            throw SystemError("create directory", path: directory, errno: .current)
        }
    }

    /// The whole file, or `nil` when it (or a directory on its path) does not exist.
    public static func read(_ path: String) throws(SystemError) -> [UInt8]? {
        let fd: FileDescriptor
        do throws(SystemError) { fd = try FileDescriptor.open(path, .readOnly) } catch {
            if error.errno == .noSuchFileOrDirectory || error.errno == .notDirectory { return nil }
            throw error
        }
        defer { fd.closeIgnoringErrors() }
        return try fd.readToEnd(path: path, sizeHint: try fd.size(path: path) + 1)
    }

    /// The size of the file at `path` in bytes, or `nil` when it does not exist.
    public static func size(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    /// Removes `path`; true if it existed.
    @discardableResult
    public static func remove(_ path: String) -> Bool { unlink(path) == 0 }

    /// Directory and file name of `path` ("." for a bare name, "/" for a file in the root).
    public static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        return (slash == path.startIndex ? "/" : String(path[..<slash]), String(path[path.index(after: slash)...]))
    }

    /// Creates a fresh temporary file next to `path` (its directory created when missing).
    private static func createTemporary(for path: String) throws(SystemError) -> (String, FileDescriptor) {
        let (directory, name) = split(path)
        let temp = "\(directory)/.\(name)\(temporaryMarker)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do throws(SystemError) {
            return (temp, try FileDescriptor.open(temp, .writeOnly, options: .exclusiveCreate))
        } catch where error.errno == .noSuchFileOrDirectory {
            try createDirectory(directory)
            return (temp, try FileDescriptor.open(temp, .writeOnly, options: .exclusiveCreate))
        }
    }
}
