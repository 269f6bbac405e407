import Foundation
import Glibc
import KilnCore

/// The bearer token that guards the agent's control endpoints, read from a file only its owner
/// can read (`--control-token-file`, or `control-token-file` in the configuration file).
public enum ControlToken {
    /// Reads the token: the file's first line, trimmed. Refuses a file group or others can read
    /// or write, an empty token and a file over 4 KiB, naming the file and the fix.
    public static func read(path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw TelemetryError("--control-token-file \(path): \(Errno.current); create it with `umask 077; openssl rand -hex 32 > \(path)`", exitCode: .usage)
        }
        guard st.st_mode & 0o077 == 0 else {
            throw TelemetryError("--control-token-file \(path): mode \(String(st.st_mode & 0o777, radix: 8)) lets others read it; run `chmod 600 \(path)`", exitCode: .usage)
        }
        guard st.st_size <= 4096, let text = FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) }) else {
            throw TelemetryError("--control-token-file \(path): not a readable token file of at most 4 KiB", exitCode: .usage)
        }
        let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard token.count >= 16, token.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw TelemetryError("--control-token-file \(path): the token must be at least 16 printable ASCII characters on the first line; make one with `openssl rand -hex 32`", exitCode: .usage)
        }
        return token
    }
}
