import KilnCore

/// Streaming file digests.
public enum FileDigest {
    /// The sha256 and size of the file at `path`, read in 1 MiB pieces.
    public static func of(path: String) throws -> (digest: Digest, size: Int64) {
        let fd = try FileDescriptor.open(path, .readOnly)
        defer { fd.closeIgnoringErrors() }
        var hasher = SHA256()
        var size: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try buffer.withUnsafeMutableBytes { raw in Result { () throws(SystemError) in try fd.read(into: raw, path: path) } }.get()
            if n == 0 { break }
            hasher.update(buffer[0..<n])
            size += Int64(n)
        }
        return (Digest(hex: hasher.finalizeHex()), size)
    }
}
