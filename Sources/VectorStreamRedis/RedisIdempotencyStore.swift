import RedisClient
import VectorStreamCore

/// Idempotency keys shared by every server through Redis: a retried request answered by another server still gets
/// the first answer. One key per idempotency key, `SET NX` with the lease while in flight, the answer with the
/// answer TTL once done (`IdempotencyRecord` is the value's format).
public final class RedisIdempotencyStore: IdempotencyStore {
    public let client: RedisClient
    public let keyPrefix: String
    /// Tells this store's in-flight markers from another server's, so `abandon` deletes only its own.
    public let token: String

    public init(client: RedisClient, keyPrefix: String = "vectorstream:") {
        self.client = client
        self.keyPrefix = keyPrefix
        var random = SystemRandomNumberGenerator()
        token = String(random.next() as UInt64, radix: 36)
    }

    /// Where an idempotency key lives.
    public func redisKey(_ key: String) -> String { keyPrefix + "idempotency:" + key }

    public func begin(_ key: String, fingerprint: String, lease: Duration) async throws -> IdempotencyClaim {
        let marker = IdempotencyRecord.inFlight(fingerprint: fingerprint, token: token)
        // SET NX GET needs Redis 7; the script does the same on any version.
        let reply = try await client.eval(Self.beginScript, keys: [.string(redisKey(key))],
                                          arguments: [.bytes(marker), .integer(Self.milliseconds(lease))])
        if reply.isNull { return .won }
        switch reply {
        case .error(let error): throw error
        default:
            guard let bytes = reply.bytes, let claim = IdempotencyRecord.claim(from: bytes) else {
                throw RedisClientError.unexpectedReply(command: "idempotency begin", reply: "\(reply)")
            }
            return claim
        }
    }

    public func complete(_ key: String, fingerprint: String, answer: [UInt8], ttl: Duration) async throws {
        let value = IdempotencyRecord.done(fingerprint: fingerprint, answer: answer)
        let reply = try await client.send("SET", .string(redisKey(key)), .bytes(value), "PX", .integer(Self.milliseconds(ttl)))
        if case .error(let error) = reply { throw error }
    }

    public func abandon(_ key: String, fingerprint: String) async throws {
        let marker = IdempotencyRecord.inFlight(fingerprint: fingerprint, token: token)
        let reply = try await client.eval(Self.abandonScript, keys: [.string(redisKey(key))], arguments: [.bytes(marker)])
        if case .error(let error) = reply { throw error }
    }

    public func renew(_ key: String, fingerprint: String, lease: Duration) async throws -> LeaseRenewal {
        let marker = IdempotencyRecord.inFlight(fingerprint: fingerprint, token: token)
        let reply = try await client.eval(Self.renewScript, keys: [.string(redisKey(key))],
                                          arguments: [.bytes(marker), .integer(Self.milliseconds(lease))])
        switch reply {
        case .error(let error): throw error
        case .integer(1): return .renewed
        default: return .lost
        }
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        max(1, d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
    }

    /// nil when the key was free (now ours, with the lease); else its value.
    static let beginScript = """
        local old = redis.call('GET', KEYS[1])
        if old then return old end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return false
        """

    /// 1 when the key still holds this server's marker (its lease is now `ARGV[2]` ms again), else 0.
    static let renewScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """

    static let abandonScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """
}
