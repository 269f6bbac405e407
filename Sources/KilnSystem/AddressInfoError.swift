import Glibc

/// A failed host name lookup (`getaddrinfo`) as a value: its `EAI_*` code, described in the
/// resolver's own words (`gai_strerror`), as `Errno` is for system calls.
public struct AddressInfoError: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The `EAI_*` code `getaddrinfo` returned.
    public let rawValue: Int32

    /// Wraps a `getaddrinfo` result code.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The resolver's text for the code, e.g. "Name or service not known".
    public var description: String { String(cString: gai_strerror(rawValue)) }
}
