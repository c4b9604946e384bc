import Foundation
import Logging
import VectorStreamCore
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
    /// The embedded event store, when events live in SQLite (for summaries).
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

        let vectorIndex = try EmbeddedVectorIndex(database: database, dimension: embedder.dimension)
        let vectors: any VectorStore = vectorIndex
        health.append(vectorIndex)

        let events: any EventSink = sqlite
        let analytics: any AnalyticsStore = sqlite
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
        var c = MiniLMEmbedder.Configuration()
        c.modelDirectory = configuration.embedder.modelDirectory
        c.threads = configuration.embedder.threads
        c.batchSize = configuration.embedder.batchSize
        return try MiniLMEmbedder(configuration: c)
    }

    func stages(source: any EventSource) -> PipelineStages {
        PipelineStages(source: source, dedup: dedup, embedder: embedder, embeddingCache: embeddingCache,
                       vectors: vectors, events: events, deadLetters: deadLetters, notifier: notifier,
                       queryCache: queryCache, liveState: liveState)
    }
}
