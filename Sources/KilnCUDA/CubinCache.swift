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

    /// The default location, beside the engine cache: `KilnDirectories().kernels`.
    public static func defaultCache() -> CubinCache {
        CubinCache(directory: URL(fileURLWithPath: KilnDirectories().kernels))
    }

    /// The file for `key` (`<key>.cubin` or `<key>.ptx`).
    func url(key: String, kind: String) -> URL { directory.appendingPathComponent("\(key).\(kind)") }

    /// The cached image for `key`, or `nil`.
    public func load(key: String, kind: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: url(key: key, kind: kind).path), !data.isEmpty else { return nil }
        return [UInt8](data)
    }

    /// Stores an image atomically (`AtomicFile`: temporary file, fsync, rename, directory fsync).
    public func store(key: String, kind: String, image: [UInt8]) throws {
        try AtomicFile.write(image, to: url(key: key, kind: kind).path)
    }
}
