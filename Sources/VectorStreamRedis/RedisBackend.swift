import Logging
import RedisClient
import VectorStreamCore

/// Reports whether Redis answers `PING` in time, for /health.
public struct RedisHealth: HealthCheckable {
    public let client: RedisClient
    public var timeout: Duration = .seconds(1)
    public var dependencyName: String { "redis" }

    public init(client: RedisClient, timeout: Duration = .seconds(1)) {
        self.client = client
        self.timeout = timeout
    }

    public func checkHealth() async -> DependencyHealth {
        if let problem = await client.ping(timeout: timeout) { return .down(problem) }
        return .ok
    }
}

/// All Redis-backed stores of one worker over one connection pool, selected by `VECTORSTREAM_REDIS_URL`.
public final class RedisBackend: Sendable {
    public let client: RedisClient
    public let configuration: RedisStoreConfiguration
    public let dedup: RedisDedupStore
    public let embeddingCache: RedisEmbeddingCache
    public let queryCache: RedisQueryCache
    public let liveState: RedisLiveStateStore
    public let health: RedisHealth

    /// Builds the stores; connects lazily, so a server that is down now is reported by `health` and by the
    /// first call (which the engine retries), not by a crash at start. Call `checkReachable()` to fail fast.
    public init(configuration: RedisStoreConfiguration, workerID: String, embeddingDimension: Int? = nil,
                logger: Logger = Logger(label: "vectorstream.redis")) {
        self.configuration = configuration
        client = RedisClient(configuration: configuration.client, logger: logger)
        dedup = RedisDedupStore(client: client, configuration: configuration, workerID: workerID)
        embeddingCache = RedisEmbeddingCache(client: client, configuration: configuration, dimension: embeddingDimension,
                                             logger: logger)
        queryCache = RedisQueryCache(client: client, configuration: configuration, logger: logger)
        liveState = RedisLiveStateStore(client: client, configuration: configuration)
        health = RedisHealth(client: client)
    }

    public convenience init(settings: VectorStreamConfiguration.RedisSettings, workerID: String,
                            embeddingDimension: Int? = nil, logger: Logger = Logger(label: "vectorstream.redis")) throws {
        self.init(configuration: try RedisStoreConfiguration(settings: settings), workerID: workerID,
                  embeddingDimension: embeddingDimension, logger: logger)
    }

    /// Throws `RedisClientError.unavailable` ("redis at HOST:PORT is unreachable: connection refused ...")
    /// or `.handshakeFailed` (auth, database) when the server cannot be used.
    public func checkReachable() async throws {
        let reply = try await client.send("PING")
        guard reply.string == "PONG" else { throw RedisClientError.unexpectedReply(command: "PING", reply: "\(reply)") }
    }

    /// A warning when Redis would forget confirmed dedup keys on a restart (append-only file off), nil when
    /// it keeps them or does not say (managed services often refuse `CONFIG`).
    ///
    /// Why it matters: ClickHouse's replay protection is keyed by source position, so a re-produced event (the
    /// same event_id at a new offset, as a producer retry makes) is kept out only by its confirmed dedup key. If
    /// Redis loses its keys, such an event is stored twice. Run Redis with `appendonly yes`, and keep
    /// `redis.dedup_ttl_seconds` longer than producers can re-send (docs/clickhouse.md).
    public func persistenceWarning() async -> String? {
        guard let reply = try? await client.send("CONFIG", "GET", "appendonly") else { return nil }
        let value: String?
        switch reply {
        case .map(let entries): value = entries.first?.value.string  // RESP3
        default: value = reply.array.flatMap { $0.count >= 2 ? $0[1].string : nil }  // RESP2: [name, value]
        }
        guard let value else { return nil }
        guard value.lowercased() == "no" else { return nil }
        return "Redis at \(configuration.client.endpoint) runs without its append-only file (appendonly no): "
            + "a restart forgets confirmed dedup keys, and an event re-produced at a new offset after that is stored "
            + "twice in ClickHouse. Set appendonly yes (docs/clickhouse.md, \"Exactly once and Redis\")."
    }

    public func close() async {
        await client.close()
    }
}
