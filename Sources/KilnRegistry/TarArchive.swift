import Foundation
import KilnCore

/// A minimal POSIX ustar reader and writer for golden-data layers.
///
/// Writes regular files and directories with ustar headers (names up to 255 bytes via the
/// prefix field). Reads ustar and GNU/pax archives: regular files and directories are kept,
/// pax `path` records are honoured, links and devices are skipped. Paths that are absolute or
/// contain `..` are rejected.
public enum TarArchive {
    /// One file in an archive.
    public struct Entry: Sendable, Equatable {
        /// The relative path (`test_data_set_0/input_0.pb`).
        public var path: String
        /// The file's bytes (empty for directories).
        public var contents: [UInt8]
        /// True for a directory entry.
        public var isDirectory: Bool

        /// Creates an entry.
        public init(path: String, contents: [UInt8], isDirectory: Bool = false) {
            self.path = path
            self.contents = contents
            self.isDirectory = isDirectory
        }
    }

    /// Serialises entries into a ustar archive (two zero blocks at the end).
    public static func write(_ entries: [Entry]) throws -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            var header = [UInt8](repeating: 0, count: 512)
            var name = entry.path + (entry.isDirectory && !entry.path.hasSuffix("/") ? "/" : "")
            var prefix = ""
            if name.utf8.count > 100 {
                guard let split = name.indices.filter({ name[$0] == "/" }).first(where: {
                    name[..<$0].utf8.count <= 155 && name[name.index(after: $0)...].utf8.count <= 100
                }) else {
                    throw RegistryError(.invalidArtifact, "tar: path \(entry.path) is too long for ustar (max 255 bytes)")
                }
                prefix = String(name[..<split])
                name = String(name[name.index(after: split)...])
            }
            func put(_ s: String, _ offset: Int, _ length: Int) {
                for (i, b) in s.utf8.prefix(length).enumerated() { header[offset + i] = b }
            }
            func octal(_ v: Int, _ offset: Int, _ length: Int) {
                put(String(String(v, radix: 8).suffix(length - 1)).leftPadded(to: length - 1), offset, length - 1)
            }
            put(name, 0, 100)
            octal(entry.isDirectory ? 0o755 : 0o644, 100, 8)
            octal(0, 108, 8)
            octal(0, 116, 8)
            octal(entry.isDirectory ? 0 : entry.contents.count, 124, 12)
            octal(0, 136, 12)
            header[156] = entry.isDirectory ? UInt8(ascii: "5") : UInt8(ascii: "0")
            put("ustar\0", 257, 6)
            put("00", 263, 2)
            put(prefix, 345, 155)
            for i in 148..<156 { header[i] = 0x20 }
            let sum = header.reduce(0) { $0 + Int($1) }
            put(String(String(sum, radix: 8)).leftPadded(to: 6), 148, 6)
            header[154] = 0
            header[155] = 0x20
            out += header
            if !entry.isDirectory {
                out += entry.contents
                out += [UInt8](repeating: 0, count: (512 - entry.contents.count % 512) % 512)
            }
        }
        out += [UInt8](repeating: 0, count: 1024)
        return out
    }

    /// Parses an archive; throws `invalidArtifact` naming `source` on a malformed header.
    public static func read(_ bytes: [UInt8], source: String) throws -> [Entry] {
        var entries: [Entry] = []
        var offset = 0
        var paxPath: String?
        var longName: String?
        func field(_ h: ArraySlice<UInt8>, _ o: Int, _ n: Int) -> String {
            let start = h.startIndex + o
            let slice = h[start..<start + n]
            let end = slice.firstIndex(of: 0) ?? slice.endIndex
            return String(decoding: slice[start..<end], as: UTF8.self)
        }
        while offset + 512 <= bytes.count {
            let h = bytes[offset..<offset + 512]
            if h.allSatisfy({ $0 == 0 }) { break }
            let stored = Int(field(h, 148, 8).trimmingCharacters(in: .whitespaces.union(.controlCharacters)), radix: 8)
            var sum = 0
            for (i, b) in h.enumerated() { sum += (148..<156).contains(i) ? 0x20 : Int(b) }
            guard stored == sum else {
                throw RegistryError(.invalidArtifact, "tar \(source): bad header checksum at offset \(offset); the layer is not a tar archive")
            }
            guard let size = Int(field(h, 124, 12).trimmingCharacters(in: .whitespaces.union(.controlCharacters)), radix: 8),
                  offset + 512 + size <= bytes.count else {
                throw RegistryError(.invalidArtifact, "tar \(source): bad size or truncated entry at offset \(offset)")
            }
            let type = h[h.startIndex + 156]
            let data = Array(bytes[offset + 512..<offset + 512 + size])
            offset += 512 + (size + 511) / 512 * 512
            var name = field(h, 0, 100)
            if field(h, 257, 5) == "ustar" {
                let prefix = field(h, 345, 155)
                if !prefix.isEmpty { name = prefix + "/" + name }
            }
            switch type {
            case UInt8(ascii: "x"):
                paxPath = parsePax(data)["path"]
                continue
            case UInt8(ascii: "L"):
                longName = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
                continue
            case UInt8(ascii: "g"):
                continue
            default: break
            }
            if let p = paxPath ?? longName { name = p }
            paxPath = nil
            longName = nil
            while name.hasPrefix("./") { name.removeFirst(2) }
            if name.isEmpty || name == "." { continue }
            guard !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
                throw RegistryError(.invalidArtifact, "tar \(source): unsafe path \(name) (absolute or with ..)")
            }
            switch type {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
                entries.append(Entry(path: name, contents: data))
            case UInt8(ascii: "5"):
                entries.append(Entry(path: name.hasSuffix("/") ? String(name.dropLast()) : name, contents: [], isDirectory: true))
            default:
                continue
            }
        }
        return entries
    }

    /// Extracts entries into `directory` (created); each file written atomically.
    public static func extract(_ entries: [Entry], to directory: String) throws {
        try AtomicFile.createDirectory(directory)
        for entry in entries {
            let path = directory + "/" + entry.path
            if entry.isDirectory {
                try AtomicFile.createDirectory(path)
            } else {
                try AtomicFile.write(entry.contents, to: path)
            }
        }
    }

    /// The entries for every file under `directory`, paths relative to it, sorted.
    public static func entries(fromDirectory directory: String) throws -> [Entry] {
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: directory) else {
            throw RegistryError(.io, "cannot read directory \(directory)")
        }
        var entries: [Entry] = []
        for case let relative as String in walker {
            let full = directory + "/" + relative
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: full, isDirectory: &isDir) else { continue }
            if isDir.boolValue {
                entries.append(Entry(path: relative, contents: [], isDirectory: true))
            } else {
                guard let data = fm.contents(atPath: full) else { throw RegistryError(.io, "cannot read \(full)") }
                entries.append(Entry(path: relative, contents: Array(data)))
            }
        }
        return entries.sorted { $0.path < $1.path }
    }

    private static func parsePax(_ data: [UInt8]) -> [String: String] {
        var records: [String: String] = [:]
        var i = 0
        while i < data.count {
            guard let space = data[i...].firstIndex(of: 0x20),
                  let length = Int(String(decoding: data[i..<space], as: UTF8.self)), length > 0,
                  i + length <= data.count else { break }
            let record = String(decoding: data[(space + 1)..<(i + length - 1)], as: UTF8.self)
            if let eq = record.firstIndex(of: "=") {
                records[String(record[..<eq])] = String(record[record.index(after: eq)...])
            }
            i += length
        }
        return records
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
