import Glibc
import KilnCore

/// zlib streams (RFC 1950) for PNG: the platform's `libz.so.1` through `dlopen` (`compress2`),
/// or, where it is absent, stored (uncompressed) deflate blocks written here.
public enum Zlib {
    /// The C entry points, loaded once (immutable C function pointers, Sendable as they are).
    private struct Library: Sendable {
        typealias Compress2 = @convention(c) (UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt>?, UnsafePointer<UInt8>?, UInt, Int32) -> Int32
        typealias CompressBound = @convention(c) (UInt) -> UInt
        let compress2: Compress2
        let compressBound: CompressBound
    }

    private static let library: Library? = {
        guard let handle = dlopen("libz.so.1", RTLD_NOW) ?? dlopen("libz.so", RTLD_NOW),
              let c = dlsym(handle, "compress2"), let b = dlsym(handle, "compressBound") else { return nil }
        return Library(compress2: unsafeBitCast(c, to: Library.Compress2.self), compressBound: unsafeBitCast(b, to: Library.CompressBound.self))
    }()

    /// Whether the system's zlib was loaded (otherwise streams are stored, not compressed).
    public static var isAvailable: Bool { library != nil }

    /// `bytes` as one zlib stream: compressed at `level` (1 fastest … 9 smallest) by the system's
    /// zlib, or stored blocks when it is absent or fails.
    public static func compress(_ bytes: [UInt8], level: Int32 = 1) -> [UInt8] {
        if let library {
            var size = library.compressBound(UInt(bytes.count))
            var out = [UInt8](repeating: 0, count: Int(size))
            let rc = out.withUnsafeMutableBufferPointer { dst in
                bytes.withUnsafeBufferPointer { src in
                    library.compress2(dst.baseAddress, &size, src.baseAddress, UInt(src.count), level)
                }
            }
            if rc == 0 {  // Z_OK
                out.removeLast(out.count - Int(size))
                return out
            }
        }
        return stored(bytes)
    }

    /// A zlib stream of stored deflate blocks (no compression): header, blocks of at most 65535
    /// bytes, Adler-32.
    public static func stored(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        out.reserveCapacity(bytes.count + bytes.count / 65535 * 5 + 16)
        var offset = 0
        repeat {
            let n = min(65535, bytes.count - offset)
            let last = offset + n == bytes.count
            out.append(last ? 1 : 0)
            out += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += bytes[offset..<offset + n]
            offset += n
        } while offset < bytes.count
        let a = adler32(bytes)
        out += [UInt8(a >> 24), UInt8((a >> 16) & 0xFF), UInt8((a >> 8) & 0xFF), UInt8(a & 0xFF)]
        return out
    }

    /// Adler-32 of `bytes` (RFC 1950).
    public static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + 5552)  // the largest run before the sums can overflow
            while i < end {
                a += UInt32(bytes[i])
                b += a
                i += 1
            }
            a %= 65521
            b %= 65521
        }
        return b << 16 | a
    }
}
