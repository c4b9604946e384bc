import Logging
import NIOCore
import RedisClient
import VectorStreamCore

/// Vectors of recently embedded texts, by text hash: a text is embedded once across restarts and workers.
///
/// Each vector is one string value of little-endian Float32 bytes (1,536 bytes for 384 dimensions, a quarter
/// of its JSON text), written with an expiry. The memory bound is the server's `maxmemory` with an LRU
/// policy (see docs/redis.md): old vectors are evicted first, and a miss only costs a recomputation.
///
/// A cache must never fail the pipeline: when Redis cannot answer, reads return misses and writes are
/// dropped, with a warning.
public final class RedisEmbeddingCache: EmbeddingCache {
    public let client: RedisClient
    public let configuration: RedisStoreConfiguration
    /// Vectors of another length are treated as misses (a model change under the same hash cannot happen,
    /// since the hash covers the model version, but a corrupt value must not reach the vector store).
    public let dimension: Int?
    private let logger: Logger
    /// Keys per MGET: keeps each reply to about a megabyte.
    private let keysPerRead = 512

    public init(client: RedisClient, configuration: RedisStoreConfiguration, dimension: Int? = nil,
                logger: Logger = Logger(label: "vectorstream.redis.embedding-cache")) {
        self.client = client
        self.configuration = configuration
        self.dimension = dimension
        self.logger = logger
    }

    func redisKey(_ textHash: String) -> String {
        configuration.keyPrefix + "emb:" + textHash
    }

    public func vectors(for textHashes: [String]) async throws -> [[Float]?] {
        guard !textHashes.isEmpty else { return [] }
        var commands: [RedisCommand] = []
        var start = 0
        while start < textHashes.count {
            let end = min(start + keysPerRead, textHashes.count)
            commands.append(RedisCommand("MGET", textHashes[start..<end].map { .string(redisKey($0)) }))
            start = end
        }
        do {
            let replies = try await client.pipeline(commands)
            var vectors: [[Float]?] = []
            vectors.reserveCapacity(textHashes.count)
            for reply in replies {
                guard let values = reply.array else {
                    throw RedisClientError.unexpectedReply(command: "MGET", reply: "\(reply)")
                }
                for value in values { vectors.append(Self.decode(value, dimension: dimension)) }
            }
            guard vectors.count == textHashes.count else {
                throw RedisClientError.unexpectedReply(command: "MGET", reply: "\(vectors.count) values for \(textHashes.count) keys")
            }
            return vectors
        } catch {
            logger.warning("embedding cache read failed; computing instead", metadata: ["error": "\(error)"])
            return Array(repeating: nil, count: textHashes.count)
        }
    }

    public func store(_ vectors: [String: [Float]]) async throws {
        guard !vectors.isEmpty else { return }
        let ttl = RedisArgument.integer(configuration.embeddingCacheTTL.milliseconds)
        let commands = vectors.map { hash, vector in
            RedisCommand("SET", .string(redisKey(hash)), .buffer(Self.encode(vector)), "PX", ttl)
        }
        do {
            for reply in try await client.pipeline(commands) {
                if case .error(let error) = reply { throw error }
            }
        } catch {
            logger.warning("embedding cache write failed; vectors not cached", metadata: ["error": "\(error)"])
        }
    }

    /// Little-endian Float32 bytes, whatever the host's byte order.
    public static func encode(_ vector: [Float]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(vector.count * 4)
        for value in vector { buffer.writeInteger(value.bitPattern, endianness: .little) }
        return buffer
    }

    public static func decode(_ value: RESPValue, dimension: Int?) -> [Float]? {
        guard case .bulkString(var buffer) = value, buffer.readableBytes % 4 == 0, buffer.readableBytes > 0 else { return nil }
        let count = buffer.readableBytes / 4
        if let dimension, dimension != count { return nil }
        var vector = [Float]()
        vector.reserveCapacity(count)
        while let bits = buffer.readInteger(endianness: .little, as: UInt32.self) {
            vector.append(Float(bitPattern: bits))
        }
        return vector
    }
}
