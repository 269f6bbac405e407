import Glibc

/// An open file descriptor as a type, not a bare `Int32`; every descriptor Kiln opens is
/// close-on-exec, so no child process inherits it by accident.
///
/// It is a plain value: the owner calls `close()` exactly once.
public struct FileDescriptor: RawRepresentable, Hashable, Sendable {
    /// The C descriptor number.
    public let rawValue: Int32

    /// Wraps a descriptor number the caller owns.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// How a file is opened for access.
    public enum AccessMode: Sendable {
        /// O_RDONLY.
        case readOnly
        /// O_WRONLY.
        case writeOnly
        /// O_RDWR.
        case readWrite

        var flags: Int32 {
            switch self {
            case .readOnly: O_RDONLY
            case .writeOnly: O_WRONLY
            case .readWrite: O_RDWR
            }
        }
    }

    /// Options for `open`; close-on-exec is always added.
    public struct OpenOptions: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// O_CREAT: create the file if it does not exist.
        public static let create = OpenOptions(rawValue: O_CREAT)
        /// O_CREAT | O_EXCL: create the file, failing if it exists.
        public static let exclusiveCreate = OpenOptions(rawValue: O_CREAT | O_EXCL)
        /// O_TRUNC: truncate an existing file.
        public static let truncate = OpenOptions(rawValue: O_TRUNC)
        /// O_APPEND: every write goes to the end.
        public static let append = OpenOptions(rawValue: O_APPEND)
        /// O_DIRECTORY: fail unless the path is a directory.
        public static let directory = OpenOptions(rawValue: O_DIRECTORY)
    }

    /// Opens `path` (close-on-exec), retrying on EINTR.
    public static func open(_ path: String, _ mode: AccessMode, options: OpenOptions = [],
                            permissions: mode_t = 0o644) throws(SystemError) -> FileDescriptor {
        let fd = try Posix.call("open", path: path) { Glibc.open(path, mode.flags | options.rawValue | O_CLOEXEC, permissions) }
        return FileDescriptor(rawValue: fd)
    }

    /// A pipe whose both ends are close-on-exec from the start (`pipe2(O_CLOEXEC)`), so a child
    /// spawned concurrently by another thread cannot inherit them.
    public static func pipe() throws(SystemError) -> (readEnd: FileDescriptor, writeEnd: FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        try Posix.call("create a pipe") { pipe2(&fds, O_CLOEXEC) }
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }

    /// Reads up to `buffer.count` bytes; 0 at end of file. `path` names the file in errors.
    public func read(into buffer: UnsafeMutableRawBufferPointer, path: String? = nil) throws(SystemError) -> Int {
        try Posix.call("read", path: path) { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes all of `bytes`, continuing after short writes.
    public func writeAll(_ bytes: UnsafeRawBufferPointer, path: String? = nil) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            offset += try Posix.call("write", path: path) { Glibc.write(rawValue, bytes.baseAddress! + offset, bytes.count - offset) }
        }
    }

    /// Writes all of `bytes`, continuing after short writes.
    public func writeAll(_ bytes: [UInt8], path: String? = nil) throws(SystemError) {
        try bytes.withUnsafeBytes { raw in Result { () throws(SystemError) in try writeAll(raw, path: path) } }.get()
    }

    /// Reads until end of file, or until `limit` bytes have been read (files that may be endless
    /// or huge, e.g. under /proc and /sys).
    public func readToEnd(path: String? = nil, sizeHint: Int = 0, limit: Int = .max) throws(SystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: min(max(sizeHint, 4096), max(limit, 1)))
        var count = 0
        while count < limit {
            if count == bytes.count { bytes.append(contentsOf: repeatElement(0, count: min(bytes.count, limit - count))) }
            let n = try bytes.withUnsafeMutableBytes { raw in
                Result { () throws(SystemError) in try read(into: UnsafeMutableRawBufferPointer(rebasing: raw[count...]), path: path) }
            }.get()
            if n == 0 { break }
            count += n
        }
        bytes.removeSubrange(count...)
        return bytes
    }

    /// The file's size in bytes (fstat).
    public func size(path: String? = nil) throws(SystemError) -> Int {
        var st = stat()
        try Posix.call("stat", path: path) { fstat(rawValue, &st) }
        return Int(st.st_size)
    }

    /// Flushes the file's data and metadata to the device (fsync).
    public func sync(path: String? = nil) throws(SystemError) {
        try Posix.call("fsync", path: path) { fsync(rawValue) }
    }

    /// Closes the descriptor. Not retried on EINTR: on Linux the descriptor is gone either way.
    public func close(path: String? = nil) throws(SystemError) {
        guard Glibc.close(rawValue) == 0 else { throw SystemError("close", path: path, errno: .current) }
    }

    /// Closes the descriptor, ignoring errors (cleanup after another failure, or a read-only file).
    public func closeIgnoringErrors() { _ = Glibc.close(rawValue) }
}

/// glibc's `pipe2`, which the Glibc module does not export (it needs _GNU_SOURCE); looked up once
/// by name so it is called with the C calling convention. Every Linux glibc since 2.9 has it.
private let pipe2: @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32 = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2") else {
        fatalError("glibc without pipe2 (needs glibc 2.9 or later)")
    }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32).self)
}()
