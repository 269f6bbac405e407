import Foundation
import KilnCore

/// A directory of compiled kernel images keyed by `NVRTCCompiler.cacheKey`.
///
/// Files are written atomically (temporary file, fsync, rename), so a crash never leaves a
/// truncated cubin that a later run would load.
public struct CubinCache: Sendable {
    /// The directory images live in.
    public var directory: URL

    /// A cache in `directory` (created on first store).
    public init(directory: URL) { self.directory = directory }

    /// The default location, beside the engine cache: `$KILN_CACHE_DIR/kernels`, else
    /// `$CACHE_DIRECTORY/kernels` (systemd), else `$XDG_CACHE_HOME/kiln/kernels`, else `~/.cache/kiln/kernels`.
    public static func defaultCache() -> CubinCache {
        let env = ProcessInfo.processInfo.environment
        let base: URL
        if let dir = env["KILN_CACHE_DIR"], !dir.isEmpty {
            base = URL(fileURLWithPath: dir)
        } else if let systemd = env["CACHE_DIRECTORY"]?.split(separator: ":").first, !systemd.isEmpty {
            base = URL(fileURLWithPath: String(systemd))
        } else if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty {
            base = URL(fileURLWithPath: xdg).appendingPathComponent("kiln")
        } else {
            base = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/kiln")
        }
        return CubinCache(directory: base.appendingPathComponent("kernels"))
    }

    /// The file for `key` (`<key>.cubin` or `<key>.ptx`).
    func url(key: String, kind: String) -> URL { directory.appendingPathComponent("\(key).\(kind)") }

    /// The cached image for `key`, or `nil`.
    public func load(key: String, kind: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: url(key: key, kind: kind).path), !data.isEmpty else { return nil }
        return [UInt8](data)
    }

    /// Stores an image atomically.
    public func store(key: String, kind: String, image: [UInt8]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let final = url(key: key, kind: kind)
        let temp = directory.appendingPathComponent(".\(key).\(kind).\(getpid()).tmp")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CUDAError.invalidArgument("kernel cache: cannot create \(temp.path): \(String(cString: strerror(errno)))") }
        var ok = image.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temp.path, final.path) == 0 else {
            unlink(temp.path)
            throw CUDAError.invalidArgument("kernel cache: cannot write \(final.path): \(String(cString: strerror(errno)))")
        }
    }
}
