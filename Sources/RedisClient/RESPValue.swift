import NIOCore

/// One value of the Redis serialization protocol, RESP2 or RESP3.
///
/// RESP2 nulls (`$-1`, `*-1`) and the RESP3 null (`_`) all decode to `.null`, so callers need not know which
/// protocol the connection speaks.
public enum RESPValue: Sendable, Hashable {
    case simpleString(String)
    /// Binary-safe bytes, kept as a buffer slice so large replies (vectors) are not copied twice.
    case bulkString(ByteBuffer)
    case error(RedisError)
    case integer(Int64)
    case null
    case array([RESPValue])
    // RESP3 only:
    case double(Double)
    case boolean(Bool)
    case bigNumber(String)
    case verbatimString(format: String, text: String)
    case map([RESPValue: RESPValue])
    case set([RESPValue])
    /// Out-of-band data (pub/sub, client tracking); never the reply to a command.
    case push([RESPValue])

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The value as text: simple, bulk and verbatim strings, big numbers and integers.
    public var string: String? {
        switch self {
        case .simpleString(let s), .bigNumber(let s): return s
        case .bulkString(let b): return String(buffer: b)
        case .verbatimString(_, let text): return text
        case .integer(let i): return String(i)
        case .double(let d): return String(d)
        default: return nil
        }
    }

    /// The value as bytes (bulk and simple strings).
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let b): return Array(b.readableBytesView)
        case .simpleString(let s): return Array(s.utf8)
        default: return nil
        }
    }

    /// The value as an integer: RESP integers, and strings holding one (`GET` of a counter).
    public var int: Int64? {
        switch self {
        case .integer(let i): return i
        case .boolean(let b): return b ? 1 : 0
        case .simpleString, .bulkString: return string.flatMap { Int64($0) }
        default: return nil
        }
    }

    /// Elements of an array, set or push.
    public var array: [RESPValue]? {
        switch self {
        case .array(let a), .set(let a), .push(let a): return a
        default: return nil
        }
    }

    /// Field/value pairs of a RESP3 map or of a RESP2 flat array (`HGETALL`, `HELLO` in either protocol).
    public var pairs: [(RESPValue, RESPValue)]? {
        switch self {
        case .map(let m): return m.map { ($0.key, $0.value) }
        case .array(let a) where a.count % 2 == 0:
            return stride(from: 0, to: a.count, by: 2).map { (a[$0], a[$0 + 1]) }
        default: return nil
        }
    }
}

/// An error reply of the server (`-ERR ...`, `-WRONGPASS ...`, RESP3 blob errors).
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(message: String) {
        self.message = message
    }

    /// The error's first word (`ERR`, `NOSCRIPT`, `WRONGPASS`, `OOM`, ...).
    public var code: String {
        String(message.prefix { $0 != " " })
    }

    public var description: String { "redis: \(message)" }
}

/// Failures of the client itself, phrased for an operator; never carries a password.
public enum RedisClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server cannot be reached (refused, DNS, TLS, handshake); `reason` says why.
    case unavailable(endpoint: String, reason: String)
    /// Authentication or `SELECT` was refused.
    case handshakeFailed(endpoint: String, reason: String)
    /// No reply within the command timeout; the connection was closed because its reply order is lost.
    case timeout(endpoint: String, command: String, after: Duration)
    /// The connection closed before every reply arrived.
    case connectionClosed(endpoint: String)
    /// The server sent bytes that are not RESP.
    case protocolError(String)
    /// A reply of an unexpected kind for the command.
    case unexpectedReply(command: String, reply: String)
    case invalidURL(String)
    case clientClosed

    public var description: String {
        switch self {
        case .unavailable(let endpoint, let reason): return "redis at \(endpoint) is unreachable: \(reason)"
        case .handshakeFailed(let endpoint, let reason): return "redis at \(endpoint) refused the connection setup: \(reason)"
        case .timeout(let endpoint, let command, let after):
            return "redis at \(endpoint) did not answer \(command) within \(after)"
        case .connectionClosed(let endpoint): return "connection to redis at \(endpoint) closed before the reply"
        case .protocolError(let what): return "redis protocol error: \(what)"
        case .unexpectedReply(let command, let reply): return "unexpected reply to \(command): \(reply)"
        case .invalidURL(let why): return "invalid redis URL: \(why)"
        case .clientClosed: return "redis client is closed"
        }
    }
}
