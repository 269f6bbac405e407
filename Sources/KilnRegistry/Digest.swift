import KilnCore

/// A content digest in OCI form, `sha256:<64 lower-case hex>`; only sha256 is accepted.
public struct Digest: Sendable, Hashable, Codable, CustomStringConvertible, Comparable {
    /// The 64 lower-case hex characters.
    public let hex: String

    /// Parses `sha256:<hex>`; throws `invalidReference` naming the text otherwise.
    public init(parsing text: String) throws {
        guard text.hasPrefix("sha256:") else {
            throw RegistryError(.invalidReference, "digest \(text): only sha256 digests are supported (sha256:<64 hex digits>)")
        }
        let hex = String(text.dropFirst(7))
        guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw RegistryError(.invalidReference, "digest \(text): expected sha256: followed by 64 lower-case hex digits")
        }
        self.hex = hex
    }

    /// Wraps an already validated hex string (from `SHA256.finalizeHex()`).
    public init(hex: String) { self.hex = hex }

    /// The digest of `bytes`.
    public static func of<C: Collection>(_ bytes: C) -> Digest where C.Element == UInt8 {
        Digest(hex: SHA256.hex(bytes))
    }

    /// `sha256:<hex>`.
    public var description: String { "sha256:" + hex }

    /// The first 12 hex digits, for logs.
    public var short: String { String(hex.prefix(12)) }

    public static func < (a: Digest, b: Digest) -> Bool { a.hex < b.hex }

    public init(from decoder: any Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
