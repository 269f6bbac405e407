/// A CUDA compute capability: major and minor (8.7 for Orin, 9.0 for Hopper).
///
/// The one representation; its text forms are derived: `description` as profiles and people
/// write it ("8.7"), `sm` as compiler targets and engine cache keys do ("87").
public struct ComputeCapability: Sendable, Codable, Hashable, Comparable, CustomStringConvertible {
    /// The major version (8 for Ampere and Orin, 9 for Hopper).
    public var major: Int
    /// The minor version (7 for Orin's 8.7).
    public var minor: Int

    /// Creates a compute capability `major.minor`.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `major.minor` ("8.7"); nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else { return nil }
        self.init(major: major, minor: minor)
    }

    /// As profiles write it: `8.7`.
    public var description: String { "\(major).\(minor)" }

    /// As compiler targets and cache keys write it: `87` (`sm_87`).
    public var sm: String { "\(major)\(minor)" }

    public static func < (a: ComputeCapability, b: ComputeCapability) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
}
