import Logging
import RedisClient
import Synchronization
import VectorStreamCore

/// Answers of frequent analytics and search queries, for a short TTL, dropped at once when new data arrives.
///
/// Invalidation is a generation counter that is part of every entry's key: `invalidateAll` is one `INCR`,
/// after which no reader finds the old entries (they expire on their own), so there is no SCAN/DEL storm.
/// An answer computed before an invalidation is stored under the generation it was read in, never under the
/// new one, so a stale answer cannot outlive the data that made it stale.
///
/// Entry keys are built inside scripts, so this store needs a single Redis (not a cluster).
public final class RedisQueryCache: QueryCache {
    public let client: RedisClient
    public let configuration: RedisStoreConfiguration
    private let logger: Logger
    /// Generation seen at each key's last miss, used when its answer is stored. Bounded.
    private let missGenerations = Mutex<[String: String]>([:])
    private static let maxRemembered = 10_000

    public init(client: RedisClient, configuration: RedisStoreConfiguration,
                logger: Logger = Logger(label: "vectorstream.redis.query-cache")) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    var generationKey: String { configuration.keyPrefix + "query:generation" }
    var entryPrefix: String { configuration.keyPrefix + "query:" }

    public func cached(_ key: String) async throws -> [UInt8]? {
        let reply = try await client.eval(Self.readScript, keys: [.string(generationKey)],
                                          arguments: [.string(entryPrefix), .string(key)])
        guard let parts = reply.array, let generation = parts.first?.string else {
            throw RedisClientError.unexpectedReply(command: "query cache read", reply: "\(reply)")
        }
        if parts.count > 1, case .bulkString = parts[1] { return parts[1].bytes }
        missGenerations.withLock { remembered in
            if remembered.count >= Self.maxRemembered { remembered.removeAll(keepingCapacity: true) }
            remembered[key] = generation
        }
        return nil
    }

    public func store(_ key: String, value: [UInt8], ttl: Duration) async throws {
        let generation = missGenerations.withLock { $0.removeValue(forKey: key) } ?? ""
        _ = try await client.eval(Self.writeScript, keys: [.string(generationKey)], arguments: [
            .string(entryPrefix), .string(key), .bytes(value), .string(generation), .integer(ttl.milliseconds),
        ])
    }

    public func invalidateAll() async throws {
        try await client.send("INCR", .string(generationKey))
    }

    /// The current generation, for tests and diagnostics.
    public func generation() async throws -> Int64 {
        try await client.send("GET", .string(generationKey)).int ?? 0
    }

    static let readScript = """
        local generation = redis.call('GET', KEYS[1]) or '0'
        return {generation, redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])}
        """

    static let writeScript = """
        local generation = ARGV[4]
        if generation == '' then generation = redis.call('GET', KEYS[1]) or '0' end
        redis.call('SET', ARGV[1] .. generation .. ':' .. ARGV[2], ARGV[3], 'PX', ARGV[5])
        return generation
        """
}
