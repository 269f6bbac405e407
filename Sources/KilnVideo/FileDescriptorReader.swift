import Glibc

/// Blocking exact-size reads from a file descriptor (file or pipe), retrying short reads and EINTR.
final class FileDescriptorReader: @unchecked Sendable {
    let fd: Int32
    let name: String
    /// Bytes read ahead by `readLine` but not yet consumed.
    private var pending: [UInt8] = []

    init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    /// Fills `buffer` completely. Returns the bytes read: `buffer.count`, or fewer only at end of stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        if !pending.isEmpty {
            let take = min(pending.count, buffer.count)
            pending.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: take) }
            pending.removeFirst(take)
            filled = take
        }
        while filled < buffer.count {
            let n = Glibc.read(fd, buffer.baseAddress! + filled, buffer.count - filled)
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw VideoSourceError("\(name): read failed: \(String(cString: strerror(errno)))")
            }
            filled += n
        }
        return filled
    }

    /// Reads one `\n`-terminated line (without the newline), at most `limit` bytes; nil at end of stream.
    func readLine(limit: Int = 1024) throws -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = try withUnsafeMutableBytes(of: &byte) { try read(into: $0) }
            if n == 0 { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if byte == 0x0A { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
            if line.count > limit {
                throw VideoSourceError("\(name): header line longer than \(limit) bytes; is this really a Y4M stream?")
            }
        }
    }
}
