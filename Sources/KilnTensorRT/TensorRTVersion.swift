/// A TensorRT version, decoded from `getInferLibVersion()` or trtexec's `[TensorRT vNNNN]` banner.
///
/// TensorRT 8 encodes `major·1000 + minor·100 + patch` (8601 = 8.6.1); TensorRT 10 encodes
/// `major·10000 + minor·100 + patch` (100100 = 10.1.0).
public struct TensorRTVersion: Sendable, Equatable, Comparable, Codable, CustomStringConvertible {
    /// Major version (8, 10).
    public var major: Int
    /// Minor version.
    public var minor: Int
    /// Patch version.
    public var patch: Int

    /// Creates a version.
    public init(major: Int, minor: Int, patch: Int = 0) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Decodes `getInferLibVersion()`'s integer.
    public init(encoded v: Int) {
        if v >= 10000 {
            self.init(major: v / 10000, minor: (v / 100) % 100, patch: v % 100)
        } else {
            self.init(major: v / 1000, minor: (v / 100) % 10, patch: v % 100)
        }
    }

    /// Finds `[TensorRT v8601]` (or `v100100`) in trtexec's output; `nil` when absent.
    public init?(trtexecOutput text: String) {
        guard let range = text.range(of: "[TensorRT v") else { return nil }
        let digits = text[range.upperBound...].prefix { $0.isNumber }
        guard let v = Int(digits), v > 0 else { return nil }
        self.init(encoded: v)
    }

    /// `8.6.1`.
    public var description: String { "\(major).\(minor).\(patch)" }

    /// True when this version is at least `major.minor`.
    public func atLeast(_ major: Int, _ minor: Int) -> Bool { (self.major, self.minor) >= (major, minor) }

    /// Why a TensorRT library of version `library` cannot serve a bridge compiled against headers of
    /// this version, or nil when it can: the major versions must match (the ABI changes between
    /// them), and the library's minor must be at least the headers' (minor releases only add API, so
    /// newer headers may call interface methods an older library lacks).
    public func incompatibility(library: TensorRTVersion) -> String? {
        if library.major != major {
            return "the installed TensorRT is \(library) but Kiln was built against TensorRT \(self) headers; rebuild Kiln against the installed TensorRT's headers (JetPack's libnvinfer-dev)"
        }
        if library.minor < minor {
            return "the installed TensorRT is \(library), older than the TensorRT \(self) headers Kiln was built against, whose calls it may lack; rebuild Kiln against the installed TensorRT's headers (JetPack's libnvinfer-dev) or upgrade TensorRT"
        }
        return nil
    }

    public static func < (a: TensorRTVersion, b: TensorRTVersion) -> Bool { (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch) }
}
