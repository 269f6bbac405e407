import KilnCore
import KilnPostprocess
import KilnRegistry

extension MQTTEndpoint {
    /// Takes the broker's user name and password from the auth file's entry for `HOST:PORT`
    /// (or `HOST`), the same file registries use; a user named in the URL must have an entry.
    public mutating func applyCredentials(from auth: AuthFile) throws {
        guard let credentials = auth.entries["\(host):\(port)"] ?? auth.entries[host] else {
            if let username {
                throw RuntimeError("--results \(description): user \(username) has no password for \(host):\(port) in "
                                   + "\(auth.path ?? "the auth file (none found: --auth-file, REGISTRY_AUTH_FILE, ~/.docker/config.json)"); "
                                   + "add {\"auths\": {\"\(host):\(port)\": {\"auth\": base64(\(username):PASSWORD)}}}")
            }
            return
        }
        if let username, username != credentials.username {
            throw RuntimeError("--results \(description): the auth file \(auth.path ?? "") has user \(credentials.username) for \(host):\(port), "
                               + "not \(username); name the same user or none")
        }
        username = credentials.username
        password = credentials.password
    }
}
