import Logging
import RedisClient
import VectorStreamCore

/// Dedup shared by every worker: a key per event id or product text, claimed atomically.
///
/// Two phases, so that nothing is processed twice and nothing is lost:
/// - `claim` sets the key to this store's token with a short lease, only if it is absent (or already ours:
///   a retry after a reply was lost in a connection drop must not lock this worker out of its own work);
/// - `confirm` turns the claim into the permanent marker `done` with the long dedup TTL;
/// - `release` deletes the key only while it still holds our token, so a failed batch frees its work for the
///   retry (here or on another worker) without ever deleting another worker's claim or a confirmed key.
///
/// Each call is one round trip: the keys go in scripts of `keysPerScript` keys, all pipelined. Scripts run
/// atomically, so two workers racing for a key see exactly one winner. Use one store per worker: the token
/// tells the workers apart.
public final class RedisDedupStore: DedupStore {
    public let client: RedisClient
    public let configuration: RedisStoreConfiguration
    /// This worker's identity in claims; never `done`.
    public let token: String

    static let confirmedMarker = "done"

    public init(client: RedisClient, configuration: RedisStoreConfiguration, workerID: String) {
        self.client = client
        self.configuration = configuration
        var random = SystemRandomNumberGenerator()
        self.token = "claim:\(workerID):\(String(random.next() as UInt64, radix: 36))"
    }

    /// Where a key of `namespace` lives.
    public func redisKey(_ key: String, in namespace: DedupNamespace) -> String {
        configuration.keyPrefix + "dedup:" + namespace.rawValue + ":" + key
    }

    public func claim(_ keys: [String], in namespace: DedupNamespace) async throws -> [Bool] {
        let replies = try await run(Self.claimScript, keys, namespace,
                                    [.string(token), .integer(configuration.claimLease.milliseconds)])
        var won: [Bool] = []
        won.reserveCapacity(keys.count)
        for reply in replies {
            guard let flags = reply.array else { throw RedisClientError.unexpectedReply(command: "claim", reply: "\(reply)") }
            for flag in flags { won.append(flag.int == 1) }
        }
        guard won.count == keys.count else {
            throw RedisClientError.unexpectedReply(command: "claim", reply: "\(won.count) answers for \(keys.count) keys")
        }
        return won
    }

    public func confirm(_ keys: [String], in namespace: DedupNamespace) async throws {
        _ = try await run(Self.confirmScript, keys, namespace,
                          [.string(token), .integer(configuration.dedupTTL.milliseconds), .string(Self.confirmedMarker)])
    }

    public func release(_ keys: [String], in namespace: DedupNamespace) async throws {
        _ = try await run(Self.releaseScript, keys, namespace, [.string(token)])
    }

    /// One pipelined round trip of the script over all keys, in chunks; throws on any error reply.
    private func run(_ script: String, _ keys: [String], _ namespace: DedupNamespace,
                     _ arguments: [RedisArgument]) async throws -> [RESPValue] {
        guard !keys.isEmpty else { return [] }
        let chunk = max(configuration.keysPerScript, 1)
        var commands: [RedisCommand] = []
        commands.reserveCapacity(keys.count / chunk + 1)
        var start = 0
        while start < keys.count {
            let end = min(start + chunk, keys.count)
            let redisKeys = keys[start..<end].map { RedisArgument.string(redisKey($0, in: namespace)) }
            commands.append(RedisClient.evalCommand(script, keys: redisKeys, arguments: arguments))
            start = end
        }
        let replies = try await client.pipeline(commands)
        for reply in replies {
            if case .error(let error) = reply { throw error }
        }
        return replies
    }

    // SET NX first: on the common path (a new key) that is the only command per key.
    static let claimScript = """
        local token, lease = ARGV[1], ARGV[2]
        local won = {}
        for i, key in ipairs(KEYS) do
          if redis.call('SET', key, token, 'NX', 'PX', lease) then
            won[i] = 1
          elseif redis.call('GET', key) == token then
            redis.call('PEXPIRE', key, lease)
            won[i] = 1
          else
            won[i] = 0
          end
        end
        return won
        """

    // A claim whose lease ran out while the work was being stored is still ours to confirm: the work is done.
    static let confirmScript = """
        local token, ttl, done = ARGV[1], ARGV[2], ARGV[3]
        for _, key in ipairs(KEYS) do
          local value = redis.call('GET', key)
          if value == token or not value then
            redis.call('SET', key, done, 'PX', ttl)
          end
        end
        return #KEYS
        """

    static let releaseScript = """
        local released = 0
        for _, key in ipairs(KEYS) do
          if redis.call('GET', key) == ARGV[1] then
            redis.call('DEL', key)
            released = released + 1
          end
        end
        return released
        """
}
