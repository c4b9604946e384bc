import Foundation
import RedisClient
import VectorStreamCore

/// Current figures of every worker in one hash (field = worker id, value = PipelineStats JSON), so the API
/// reads the whole pipeline's state with one `HGETALL` and without touching the other stores.
public final class RedisLiveStateStore: LiveStateStore {
    public let client: RedisClient
    public let configuration: RedisStoreConfiguration
    /// The hash expires when no worker published for this long: stopped deployments leave nothing behind.
    public let idleExpiry: Duration

    public init(client: RedisClient, configuration: RedisStoreConfiguration, idleExpiry: Duration = .seconds(24 * 3600)) {
        self.client = client
        self.configuration = configuration
        self.idleExpiry = idleExpiry
    }

    var hashKey: String { configuration.keyPrefix + "live:workers" }

    public func publish(worker: String, stats: PipelineStats) async throws {
        let json = try JSONEncoder().encode(stats)
        let replies = try await client.pipeline([
            RedisCommand("HSET", .string(hashKey), .string(worker), .bytes(Array(json))),
            RedisCommand("PEXPIRE", .string(hashKey), .integer(idleExpiry.milliseconds)),
        ])
        for reply in replies { if case .error(let error) = reply { throw error } }
    }

    public func workers() async throws -> [String: PipelineStats] {
        let reply = try await client.send("HGETALL", .string(hashKey))
        guard let pairs = reply.pairs else { throw RedisClientError.unexpectedReply(command: "HGETALL", reply: "\(reply)") }
        var result: [String: PipelineStats] = [:]
        let decoder = JSONDecoder()
        for (field, value) in pairs {
            guard let worker = field.string, let bytes = value.bytes,
                  let stats = try? decoder.decode(PipelineStats.self, from: Data(bytes)) else { continue }
            result[worker] = stats
        }
        return result
    }

    /// Forgets a worker (it shut down cleanly).
    public func remove(worker: String) async throws {
        try await client.send("HDEL", .string(hashKey), .string(worker))
    }
}
