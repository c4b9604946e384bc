import NIOCore
import NIOSSL

extension RedisClient {
    /// Where and how to connect. Every default is what a local `redis-server` needs.
    public struct Configuration: Sendable {
        public var host: String = "127.0.0.1"
        public var port: Int = 6379
        /// ACL user (Redis 6+); nil authenticates as `default` when a password is set.
        public var username: String?
        /// Never logged and never part of an error message.
        public var password: String?
        /// Logical database selected on every connection (`SELECT`).
        public var database: Int = 0
        /// TLS settings for `rediss://`; nil for plain TCP.
        public var tls: TLSConfiguration?
        /// RESP3 is asked for with `HELLO 3`; servers older than 6 fall back to RESP2.
        public var protocolVersion: ProtocolVersion = .resp3
        /// Connections opened lazily and shared by concurrent callers (requests are pipelined on them).
        public var poolSize: Int = 4
        /// How long a connect (TCP, TLS and handshake) may take.
        public var connectTimeout: Duration = .seconds(5)
        /// How long a command or pipeline may wait for its replies; then its connection is closed.
        public var commandTimeout: Duration = .seconds(10)
        /// Backoff between connect attempts after a failure: calls in between fail at once with the last reason,
        /// so an outage costs the caller nothing and the server is not hammered.
        public var reconnectInitialBackoff: Duration = .milliseconds(50)
        public var reconnectMaxBackoff: Duration = .seconds(2)
        /// Shown in `CLIENT LIST`.
        public var clientName: String? = "vectorstream"

        public enum ProtocolVersion: Int, Sendable, Hashable {
            case resp2 = 2
            case resp3 = 3
        }

        public init() {}

        /// Parses `redis://[[user]:password@]host[:port][/db][?protocol=2|3]` and `rediss://` (TLS).
        public init(url: String) throws {
            self.init()
            let schemeEnd = try url.firstRange(of: "://").orThrow("'\(Self.masked(url))' has no scheme")
            let scheme = url[..<schemeEnd.lowerBound].lowercased()
            switch scheme {
            case "redis": tls = nil
            case "rediss": tls = TLSConfiguration.makeClientConfiguration()
            default: throw RedisClientError.invalidURL("scheme must be redis:// or rediss://, not \(scheme)://")
            }
            var rest = Substring(url[schemeEnd.upperBound...])
            var query: Substring = ""
            if let q = rest.firstIndex(of: "?") {
                query = rest[rest.index(after: q)...]
                rest = rest[..<q]
            }
            var path: Substring = ""
            if let slash = rest.firstIndex(of: "/") {
                path = rest[rest.index(after: slash)...]
                rest = rest[..<slash]
            }
            if let at = rest.lastIndex(of: "@") {
                let userInfo = rest[..<at]
                rest = rest[rest.index(after: at)...]
                if let colon = userInfo.firstIndex(of: ":") {
                    let user = try Self.percentDecoded(userInfo[..<colon])
                    username = user.isEmpty ? nil : user
                    password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...])
                } else if !userInfo.isEmpty {
                    // `redis://secret@host` is the common shorthand for a password alone.
                    password = try Self.percentDecoded(userInfo)
                }
            }
            // Host, `[v6]`, optional port.
            if rest.hasPrefix("[") {
                let close = try rest.firstIndex(of: "]").orThrow("unterminated IPv6 address")
                host = String(rest[rest.index(after: rest.startIndex)..<close])
                rest = rest[rest.index(after: close)...]
                if !rest.isEmpty {
                    guard rest.hasPrefix(":") else { throw RedisClientError.invalidURL("unexpected text after IPv6 address") }
                    port = try Self.port(rest.dropFirst())
                }
            } else if let colon = rest.lastIndex(of: ":") {
                host = String(rest[..<colon])
                port = try Self.port(rest[rest.index(after: colon)...])
            } else {
                host = String(rest)
            }
            if host.isEmpty { host = "127.0.0.1" }
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else { throw RedisClientError.invalidURL("database '\(path)' is not a number") }
                database = db
            }
            for item in query.split(separator: "&") {
                let kv = item.split(separator: "=", maxSplits: 1)
                let key = kv.first.map(String.init) ?? ""
                let value = kv.count > 1 ? String(kv[1]) : ""
                switch key {
                case "protocol":
                    protocolVersion = try ProtocolVersion(rawValue: Int(value) ?? 0).orThrow("protocol must be 2 or 3")
                case "db":
                    database = try Int(value).flatMap { $0 >= 0 ? $0 : nil }.orThrow("db must be a number")
                default:
                    throw RedisClientError.invalidURL("unknown parameter '\(key)'")
                }
            }
        }

        /// `host:port`, for logs and errors.
        public var endpoint: String {
            host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }

        static func port(_ text: Substring) throws -> Int {
            guard let p = Int(text), (1...65535).contains(p) else { throw RedisClientError.invalidURL("port '\(text)' is not valid") }
            return p
        }

        static func percentDecoded(_ text: Substring) throws -> String {
            var bytes: [UInt8] = []
            var iterator = Array(text.utf8).makeIterator()
            while let b = iterator.next() {
                guard b == UInt8(ascii: "%") else { bytes.append(b); continue }
                guard let h = iterator.next(), let l = iterator.next(),
                      let hi = hexValue(h), let lo = hexValue(l) else {
                    throw RedisClientError.invalidURL("bad percent escape in user info")
                }
                bytes.append(hi << 4 | lo)
            }
            return String(decoding: bytes, as: UTF8.self)
        }

        static func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }

        /// The URL with its user info hidden, for error messages.
        static func masked(_ url: String) -> String {
            guard let at = url.lastIndex(of: "@") else { return url }
            let start = url.firstRange(of: "://").map(\.upperBound) ?? url.startIndex
            guard start <= at else { return "****" + url[at...] }
            return url[..<start] + "****" + url[at...]
        }
    }
}

extension Optional {
    func orThrow(_ why: @autoclosure () -> String) throws -> Wrapped {
        guard let self else { throw RedisClientError.invalidURL(why()) }
        return self
    }
}
