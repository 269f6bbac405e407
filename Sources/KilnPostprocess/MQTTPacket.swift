/// MQTT 3.1.1 control packets (OASIS standard, section 3), encoded and decoded by hand.
///
/// Only what a publishing client needs: CONNECT, CONNACK, PUBLISH, PUBACK, PINGREQ, PINGRESP,
/// DISCONNECT.
public enum MQTTPacket {
    /// Control packet types (fixed header's upper nibble).
    public enum Kind: UInt8, Sendable {
        /// Client → server: open a session.
        case connect = 1
        /// Server → client: session accepted or refused.
        case connack = 2
        /// A message.
        case publish = 3
        /// QoS 1 acknowledgement.
        case puback = 4
        /// Keepalive request.
        case pingreq = 12
        /// Keepalive answer.
        case pingresp = 13
        /// Client → server: clean close.
        case disconnect = 14
    }

    /// The remaining-length field: 7 bits per byte, high bit = more (at most 4 bytes).
    static func remainingLength(_ n: Int) -> [UInt8] {
        var out: [UInt8] = []
        var x = n
        repeat {
            var byte = UInt8(x % 128)
            x /= 128
            if x > 0 { byte |= 0x80 }
            out.append(byte)
        } while x > 0
        return out
    }

    /// A UTF-8 string or binary field: two-byte big-endian length, then the bytes.
    static func field(_ bytes: [UInt8]) -> [UInt8] {
        [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
    }

    /// A packet from its first header byte and body.
    static func packet(_ first: UInt8, _ body: [UInt8]) -> [UInt8] {
        [first] + remainingLength(body.count) + body
    }

    /// CONNECT with a clean session, `keepAlive` seconds, and optional credentials.
    public static func connect(clientID: String, keepAlive: Int, username: String? = nil, password: String? = nil) -> [UInt8] {
        var flags: UInt8 = 0x02
        if username != nil { flags |= 0x80 }
        if password != nil { flags |= 0x40 }
        var body = field(Array("MQTT".utf8)) + [4, flags, UInt8(keepAlive >> 8), UInt8(keepAlive & 0xFF)]
        body += field(Array(clientID.utf8))
        if let username { body += field(Array(username.utf8)) }
        if let password { body += field(Array(password.utf8)) }
        return packet(Kind.connect.rawValue << 4, body)
    }

    /// PUBLISH of `payload` to `topic` at QoS 0 or 1 (`packetID` for QoS 1; `duplicate` on resend).
    public static func publish(topic: String, payload: [UInt8], qos: Int, packetID: UInt16, duplicate: Bool = false) -> [UInt8] {
        var first = Kind.publish.rawValue << 4 | UInt8(qos << 1)
        if duplicate && qos > 0 { first |= 0x08 }
        var body = field(Array(topic.utf8))
        if qos > 0 { body += [UInt8(packetID >> 8), UInt8(packetID & 0xFF)] }
        return packet(first, body + payload)
    }

    /// PINGREQ.
    public static let pingRequest: [UInt8] = [Kind.pingreq.rawValue << 4, 0]
    /// DISCONNECT.
    public static let disconnect: [UInt8] = [Kind.disconnect.rawValue << 4, 0]

    /// CONNACK return codes (3.2.2.3), as the reason a broker refused.
    public static func connackReason(_ code: UInt8) -> String {
        switch code {
        case 0: "accepted"
        case 1: "unacceptable protocol version"
        case 2: "client identifier rejected"
        case 3: "server unavailable"
        case 4: "bad user name or password"
        case 5: "not authorized"
        default: "return code \(code)"
        }
    }
}
