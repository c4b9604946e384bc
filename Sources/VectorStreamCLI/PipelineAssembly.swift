import Foundation
import Logging
import VectorStreamClickHouse
import VectorStreamCore
import VectorStreamServer
import VectorStreamKafka
import VectorStreamRedis
import VectorStreamVectorDB
import VectorStreamEmbedded
import VectorStreamEmbedder
import VectorStreamPostgres

/// The stores chosen by configuration: each backend where its URL is set, the embedded one otherwise.
struct PipelineAssembly: Sendable {
    let configuration: VectorStreamConfiguration
    let database: EmbeddedDatabase
    let embedder: any TextEmbedder
    let dedup: any DedupStore
    let embeddingCache: any EmbeddingCache
    let vectors: any VectorStore
    let events: any EventSink
    let analytics: any AnalyticsStore
    let deadLetters: any DeadLetterSink
    let notifier: (any Notifier)?
    let queryCache: any QueryCache
    let liveState: any LiveStateStore
    let health: [any HealthCheckable]
    /// The embedded store: dead letters (without Kafka) and, without ClickHouse, events.
    let sqliteEvents: SQLiteEventStore?
    /// Closes what needs closing (connections, producers).
    let shutdown: @Sendable () async -> Void
    /// `POST /v1/ingest`'s idempotency keys: in memory, or Redis when configured (shared by every server).
    var idempotency: any IdempotencyStore = InMemoryIdempotencyStore()
    /// The dedup claimant of ingest lane n: with Redis each lane has its own token (IngestPipeline says why).
    var laneDedup: (@Sendable (Int) -> any DedupStore)?
    /// The metrics history in PostgreSQL, when `postgres.url` is set (docs/metrics.md); run by the runner.
    var metricsStore: PostgresMetricsStore?
    /// Dead letters by reason (`vectorstream_dead_letters_total`, the history's `dead_letters` series).
    var deadLetterCounter: DeadLetterCounter?

    static func make(configuration: VectorStreamConfiguration, dataDirectory: String, logger: Logger) async throws -> PipelineAssembly {
        let database = try EmbeddedDatabase(directory: dataDirectory)
        // Metered for the console (sentences per second while embedding).
        let miniLM = try makeEmbedder(configuration)
        let embedder = MeteredEmbedder(miniLM, precision: configuration.embedder.precision, matrixKernel: miniLM.layerProducts)
        logger.info("embedder ready", metadata: ["model": "\(embedder.modelVersion)"])

        var health: [any HealthCheckable] = []
        var closers: [@Sendable () async -> Void] = []

        let deadLetterPath = (dataDirectory as NSString).appendingPathComponent(configuration.pipeline.deadLetterFile)
        let sqlite = SQLiteEventStore(database: database, deadLetterFile: deadLetterPath)
        health.append(sqlite)

        let vectors: any VectorStore
        if let external = VectorDatabase.makeStore(settings: configuration.vectorDB, dimension: embedder.dimension,
                                                   logger: logger) {
            vectors = external
            health.append(external)
            logger.info("vectors in \(configuration.vectorDB.milvusURL != nil ? "Milvus" : "Qdrant")")
        } else {
            let vectorIndex = try EmbeddedVectorIndex(database: database, dimension: embedder.dimension)
            vectors = vectorIndex
            health.append(vectorIndex)
        }

        var events: any EventSink = sqlite
        var analytics: any AnalyticsStore = sqlite
        if let settings = ClickHouseConfiguration(configuration.clickhouse) {
            let clickhouse = ClickHouseEventStore(configuration: settings, logger: logger)
            do {
                _ = try await clickhouse.prepare()
            } catch {
                try? await clickhouse.shutdown()
                throw ConfigurationError("ClickHouse at \(VectorStreamConfiguration.maskURL(configuration.clickhouse.url ?? "")) is not usable: \(error)")
            }
            events = clickhouse
            analytics = clickhouse
            health.append(clickhouse)
            closers.append { try? await clickhouse.shutdown() }
            logger.info("events and analytics in ClickHouse")
        }
        var deadLetters: any DeadLetterSink = sqlite
        var notifier: (any Notifier)? = nil
        if configuration.kafka.brokers != nil {
            let kafka = try KafkaConfiguration(settings: configuration.kafka, clientID: configuration.pipeline.workerID)
            // The local dead-letter store takes what the topic refuses outright, so a poison record never stalls intake.
            let topic = try KafkaDeadLetterSink(configuration: kafka, workerID: configuration.pipeline.workerID,
                                                maxPayloadBytes: configuration.kafka.deadLetterMaxBytes,
                                                fallback: sqlite)
            // A local copy (table only, no file) is what the console's dead-letter samples read.
            deadLetters = MirroredDeadLetterSink(primary: topic, mirror: SQLiteEventStore(database: database))
            notifier = try KafkaNotifier(configuration: kafka)
            logger.info("dead letters and notifications on Kafka")
        }

        var dedup: any DedupStore = InMemoryDedupStore()
        var embeddingCache: any EmbeddingCache = InMemoryEmbeddingCache()
        var queryCache: any QueryCache = InMemoryQueryCache()
        var liveState: any LiveStateStore = SQLiteLiveState(database: database)
        var idempotency: any IdempotencyStore = InMemoryIdempotencyStore()
        var laneDedup: (@Sendable (Int) -> any DedupStore)?
        if configuration.redis.url != nil {
            let redis = try RedisBackend(settings: configuration.redis, workerID: configuration.pipeline.workerID,
                                         embeddingDimension: embedder.dimension, logger: logger)
            do {
                try await redis.checkReachable()
            } catch {
                await redis.close()
                throw ConfigurationError("Redis at \(VectorStreamConfiguration.maskURL(configuration.redis.url ?? "")) is not usable: \(error)")
            }
            if let warning = await redis.persistenceWarning() { logger.warning("\(warning)") }
            dedup = redis.dedup
            idempotency = RedisIdempotencyStore(client: redis.client, keyPrefix: redis.configuration.keyPrefix)
            let workerID = configuration.pipeline.workerID
            laneDedup = { n in
                RedisDedupStore(client: redis.client, configuration: redis.configuration, workerID: "\(workerID)-ingest-\(n)")
            }
            embeddingCache = redis.embeddingCache
            queryCache = redis.queryCache
            // The console's metrics history stays in the embedded store (this worker's figures).
            liveState = HistoryRecordingLiveState(live: redis.liveState, history: liveState)
            health.append(redis.health)
            closers.append { await redis.close() }
            logger.info("dedup, caches and live state in Redis")
        }

        let deadLetterCounter = DeadLetterCounter(deadLetters)
        deadLetters = deadLetterCounter
        var metricsStore: PostgresMetricsStore?
        if configuration.postgres.url != nil {
            let store = try PostgresMetricsStore(settings: configuration.postgres, worker: configuration.pipeline.workerID,
                                                 logger: logger)
            health.append(store)
            metricsStore = store
            logger.info("metrics history in PostgreSQL at \(store.endpoint)")
        }

        let allClosers = closers
        var assembly = PipelineAssembly(
            configuration: configuration, database: database, embedder: embedder, dedup: dedup,
            embeddingCache: embeddingCache, vectors: vectors, events: events, analytics: analytics,
            deadLetters: deadLetters, notifier: notifier, queryCache: queryCache, liveState: liveState,
            health: health, sqliteEvents: sqlite,
            shutdown: { for close in allClosers { await close() } })
        assembly.idempotency = idempotency
        assembly.laneDedup = laneDedup
        assembly.metricsStore = metricsStore
        assembly.deadLetterCounter = deadLetterCounter
        return assembly
    }

    static func makeEmbedder(_ configuration: VectorStreamConfiguration) throws -> MiniLMEmbedder {
        try MiniLMEmbedder(configuration: MiniLMEmbedder.Configuration(settings: configuration.embedder))
    }

    /// `POST /v1/ingest` over the same stages as the stream (no source: nothing to acknowledge).
    func ingestService(engine: EngineConfiguration) -> IngestService {
        let pipeline = IngestPipeline(configuration: engine, settings: configuration.ingest) { n in
            var lane = stages(source: NoEventSource())
            if let laneDedup { lane.dedup = laneDedup(n) }
            lane.liveState = nil
            return lane
        }
        return IngestService(pipeline: pipeline, idempotency: idempotency)
    }

    func stages(source: any EventSource) -> PipelineStages {
        PipelineStages(source: source, dedup: dedup, embedder: embedder, embeddingCache: embeddingCache,
                       vectors: vectors, events: events, deadLetters: deadLetters, notifier: notifier,
                       queryCache: queryCache, liveState: liveState)
    }
}
