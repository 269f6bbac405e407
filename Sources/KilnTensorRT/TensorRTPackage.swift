import Foundation

/// The installed TensorRT's Debian package, as dpkg records it (`libnvinfer10 10.3.0.30-1+cuda12.5`
/// on JetPack 6.1, `libnvinfer8 8.6.2.3-1+cuda12.2` on JetPack 6.0, `libnvinfer8 8.5.2-1+cuda11.4`
/// on JetPack 5.1): TensorRT's full version with the build number that TensorRT 8's library does
/// not report, and the CUDA release TensorRT was built for, which TensorRT 10 links statically and
/// so cannot be asked for. Both belong in the engine cache key (NVIDIA: plans and timing caches
/// are reusable only when major, minor, patch and build match).
public struct TensorRTPackage: Sendable, Equatable {
    /// The package name (`libnvinfer10`).
    public var name: String
    /// TensorRT's version from the package's.
    public var version: TensorRTVersion
    /// The build number (30 in `10.3.0.30`), when the package version has one (JetPack 5's and 4's do not).
    public var build: Int?
    /// The CUDA release TensorRT was built for (`12.5` from `+cuda12.5`), when the version names one.
    public var cuda: String?

    /// dpkg's database of installed packages.
    public static let statusPath = "/var/lib/dpkg/status"
    /// The most of dpkg's database that is read (a Jetson's is about 3 MB).
    static let maxStatusBytes = 64 << 20

    /// Decodes the Debian version `debianVersion` of package `name` (`[epoch:]8.6.2.3-1+cuda12.2`);
    /// nil when it does not start with TensorRT's `major.minor.patch`.
    public init?(name: String, debianVersion: String) {
        var text = Substring(debianVersion)
        if let colon = text.firstIndex(of: ":") { text = text[text.index(after: colon)...] }
        let upstream = text.prefix { $0 != "-" && $0 != "+" && $0 != "~" }
        let numbers = upstream.split(separator: ".").map { Int($0) }
        guard numbers.count >= 3, numbers.count <= 4, numbers.allSatisfy({ $0 != nil }) else { return nil }
        self.name = name
        version = TensorRTVersion(major: numbers[0]!, minor: numbers[1]!, patch: numbers[2]!)
        build = numbers.count == 4 ? numbers[3] : nil
        cuda = nil
        if let range = text.range(of: "+cuda") {
            let release = text[range.upperBound...].prefix { $0.isNumber || $0 == "." }
            let parts = release.split(separator: ".")
            if parts.count >= 2, parts.allSatisfy({ Int($0) != nil }) { cuda = "\(parts[0]).\(parts[1])" }
        }
    }

    /// The installed `libnvinfer<major>` in dpkg's database text `status`, or nil when it is not
    /// installed (a tar or pip install, or no TensorRT).
    public static func installed(major: Int, status: String) -> TensorRTPackage? {
        let wanted = "libnvinfer\(major)"
        for block in status.split(separator: "\n\n", omittingEmptySubsequences: true) {
            let stanza = block.drop { $0 == "\n" }
            guard stanza.hasPrefix("Package: \(wanted)\n") else { continue }  // dpkg writes Package first
            var fields: [Substring: Substring] = [:]
            for line in stanza.split(separator: "\n") where !line.hasPrefix(" ") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[line[..<colon]] = line[line.index(after: colon)...].drop { $0 == " " }
            }
            guard fields["Package"].map(String.init) == wanted,
                  fields["Status"]?.hasSuffix(" installed") == true,
                  let version = fields["Version"] else { continue }
            return TensorRTPackage(name: wanted, debianVersion: String(version))
        }
        return nil
    }

    /// The installed `libnvinfer<major>` according to dpkg's database at `statusPath`; nil when
    /// there is none or the database cannot be read (not a Debian system).
    public static func installed(major: Int, statusPath: String = statusPath) -> TensorRTPackage? {
        guard let handle = FileHandle(forReadingAtPath: statusPath) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: maxStatusBytes) else { return nil }
        return installed(major: major, status: String(decoding: data, as: UTF8.self))
    }

    /// This package when it packages TensorRT `version` (the library Kiln loaded), else nil: a tar
    /// or pip TensorRT found first on the library path is not the package's.
    public func matching(_ version: TensorRTVersion) -> TensorRTPackage? {
        self.version == version ? self : nil
    }
}
