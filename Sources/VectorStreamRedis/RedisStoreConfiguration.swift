import RedisClient
import VectorStreamCore

/// Everything the Redis-backed stores need: the connection, the key namespace and the lifetimes.
public struct RedisStoreConfiguration: Sendable {
    public var client: RedisClient.Configuration
    /// Every key starts with it, so several deployments (or tests) share one server without meeting.
    public var keyPrefix: String = "vectorstream:"
    /// How long a processed event id or product text is remembered. Default 7 days.
    public var dedupTTL: Duration = .seconds(7 * 24 * 3600)
    /// How long an unconfirmed claim holds off other workers: if its worker dies, the work is free again then.
    public var claimLease: Duration = .seconds(60)
    public var embeddingCacheTTL: Duration = .seconds(24 * 3600)
    public var queryCacheTTL: Duration = .seconds(30)
    /// Most keys per script call: bounds how long one call holds the (single-threaded) server.
    public var keysPerScript: Int = 1000

    public init(client: RedisClient.Configuration) {
        self.client = client
    }

    /// From the application settings; throws when `url` is missing or malformed (the message hides the password).
    public init(settings: VectorStreamConfiguration.RedisSettings, keyPrefix: String = "vectorstream:") throws {
        guard let url = settings.url else { throw RedisClientError.invalidURL("redis.url is not set") }
        var client = try RedisClient.Configuration(url: url)
        client.poolSize = settings.poolSize
        self.init(client: client)
        self.keyPrefix = keyPrefix
        dedupTTL = .seconds(settings.dedupTTLSeconds)
        claimLease = .seconds(settings.claimLeaseSeconds)
        embeddingCacheTTL = .seconds(settings.embeddingCacheTTLSeconds)
        queryCacheTTL = .seconds(settings.queryCacheTTLSeconds)
    }
}

extension Duration {
    /// Whole milliseconds, at least 1 (`PX 0` is an error).
    var milliseconds: Int64 {
        max(1, components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000)
    }
}
