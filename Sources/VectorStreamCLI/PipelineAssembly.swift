import Foundation
import Logging
import VectorStreamClickHouse
import VectorStreamCore
import VectorStreamVectorDB
import VectorStreamEmbedded
import VectorStreamEmbedder

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

    static func make(configuration: VectorStreamConfiguration, dataDirectory: String, logger: Logger) async throws -> PipelineAssembly {
        let database = try EmbeddedDatabase(directory: dataDirectory)
        let embedder = try makeEmbedder(configuration)
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
        let deadLetters: any DeadLetterSink = sqlite
        let notifier: (any Notifier)? = nil
        let dedup: any DedupStore = InMemoryDedupStore()
        let embeddingCache: any EmbeddingCache = InMemoryEmbeddingCache()
        let queryCache: any QueryCache = InMemoryQueryCache()
        let liveState: any LiveStateStore = SQLiteLiveState(database: database)

        let allClosers = closers
        return PipelineAssembly(
            configuration: configuration, database: database, embedder: embedder, dedup: dedup,
            embeddingCache: embeddingCache, vectors: vectors, events: events, analytics: analytics,
            deadLetters: deadLetters, notifier: notifier, queryCache: queryCache, liveState: liveState,
            health: health, sqliteEvents: sqlite,
            shutdown: { for close in allClosers { await close() } })
    }

    static func makeEmbedder(_ configuration: VectorStreamConfiguration) throws -> MiniLMEmbedder {
        try MiniLMEmbedder(configuration: MiniLMEmbedder.Configuration(settings: configuration.embedder))
    }

    func stages(source: any EventSource) -> PipelineStages {
        PipelineStages(source: source, dedup: dedup, embedder: embedder, embeddingCache: embeddingCache,
                       vectors: vectors, events: events, deadLetters: deadLetters, notifier: notifier,
                       queryCache: queryCache, liveState: liveState)
    }
}
