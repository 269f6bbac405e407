import Glibc
import KilnCore

/// Blocking exact-size reads from a file descriptor (file or pipe), retrying short reads and EINTR.
struct FileDescriptorReader {
    let fd: Int32
    let name: String

    init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    /// Fills `buffer` completely. Returns the bytes read: `buffer.count`, or fewer only at end of stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var arrived: Double?
        return try read(into: buffer, arrived: &arrived)
    }

    /// Fills `buffer` completely, setting `arrived` (if nil) to when the first bytes came: what
    /// was spent before that is waiting for the producer, not reading.
    func read(into buffer: UnsafeMutableRawBufferPointer, arrived: inout Double?) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            switch Posix.retrying({ Glibc.read(fd, buffer.baseAddress! + filled, buffer.count - filled) }) {
            case .success(0): return filled
            case .success(let n):
                if arrived == nil { arrived = MonotonicClock.now }
                filled += n
            case .failure(let error): throw VideoSourceError("\(name): read failed: \(error)")
            }
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
