import Foundation
import KilnCore

extension ONNXDecoder {
    /// Loads a tensor's bytes from ONNX external data (`location`, `offset`, `length` entries).
    ///
    /// The location must be a relative path inside the model's directory: absolute paths, `..`
    /// components and symbolic links resolving outside the directory are refused. The byte range
    /// must lie inside the file and match the tensor's size before anything is allocated.
    func externalData(_ entries: [(String, String)], byteCount: Int, label: String, offset: Int) throws(ONNXError) -> [UInt8] {
        guard let baseDirectory else {
            throw ONNXError("\(label) stores its data in an external file, which needs the model's directory; read the model from its path (ONNXReader.model(contentsOf:)) or embed the data with onnx.save_model(..., save_as_external_data=False)", offset: offset)
        }
        var location: String?
        var start = 0
        var length: Int?
        for (key, value) in entries {
            switch key {
            case "location": location = value
            case "offset":
                guard let v = Int(value), v >= 0 else {
                    throw ONNXError("\(label): external_data offset '\(value)' is not a non-negative integer", offset: offset)
                }
                start = v
            case "length":
                guard let v = Int(value), v >= 0 else {
                    throw ONNXError("\(label): external_data length '\(value)' is not a non-negative integer", offset: offset)
                }
                length = v
            default: break  // checksum and others are advisory
            }
        }
        guard let location, !location.isEmpty else {
            throw ONNXError("\(label): external data without a location entry", offset: offset)
        }
        let components = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.hasPrefix("/"), !location.contains("\0"), !location.contains("\\"),
              !components.contains(where: { $0 == ".." })
        else {
            throw ONNXError("\(label): external data location '\(location)' must be a relative path inside the model's directory (no absolute paths, no '..')", offset: offset)
        }
        if let length, length != byteCount {
            throw ONNXError("\(label): external data length \(length) does not match the \(byteCount) bytes its dims need", offset: offset)
        }
        let base = baseDirectory.standardizedFileURL.resolvingSymlinksInPath()
        let file = base.appendingPathComponent(location).standardizedFileURL.resolvingSymlinksInPath()
        let basePath = base.path.hasSuffix("/") ? base.path : base.path + "/"
        guard file.path.hasPrefix(basePath) else {
            throw ONNXError("\(label): external data location '\(location)' resolves outside the model's directory (\(file.path)); refusing to follow it", offset: offset)
        }
        guard let handle = FileHandle(forReadingAtPath: file.path) else {
            throw ONNXError("\(label): cannot open external data file \(file.path)", offset: offset)
        }
        defer { try? handle.close() }
        let size: UInt64
        do {
            size = try handle.seekToEnd()
        } catch {
            throw ONNXError("\(label): cannot read external data file \(file.path): \(error)", offset: offset)
        }
        guard UInt64(start) <= size, UInt64(byteCount) <= size - UInt64(start) else {
            throw ONNXError("\(label): external data range offset \(start) + \(byteCount) bytes lies beyond the end of \(file.path) (\(size) bytes)", offset: offset)
        }
        do {
            try handle.seek(toOffset: UInt64(start))
            let data = try handle.read(upToCount: byteCount) ?? Data()
            guard data.count == byteCount else {
                throw ONNXError("\(label): short read of external data from \(file.path)", offset: offset)
            }
            return [UInt8](data)
        } catch let error as ONNXError {
            throw error
        } catch {
            throw ONNXError("\(label): cannot read external data file \(file.path): \(error)", offset: offset)
        }
    }
}
