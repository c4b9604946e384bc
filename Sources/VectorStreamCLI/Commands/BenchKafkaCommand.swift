import ArgumentParser
import Foundation
import Logging
import Synchronization
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamGenerator
import VectorStreamKafka

/// `vectorstream bench kafka`: generated events through a Kafka broker into the micro-batch engine, with the
/// catalog already embedded, so the figures are those of ingestion (Kafka, parse, validate, dedup, store, commit).
/// Stores: the embedded ones by default (SQLite events, the vector index pre-filled with the catalog, in-memory
/// dedup); `--stores memory` counts events instead of writing them, to see Kafka's own ceiling.
///
/// Two phases, each on its own topic:
/// - backlog: N events are produced first, then consumed as fast as possible: events/s.
/// - live: events are produced at `--rate` while the pipeline consumes: p50/p99 produce-to-stored latency,
///   taken from each message's CreateTime (broker and producer on this machine, one clock).
/// Both check that stored + dead-lettered == produced.
struct BenchKafkaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract: "Benchmark Kafka ingestion: throughput of a backlog and produce-to-stored latency at a rate.")

    @Option(help: "Kafka bootstrap servers (default: VECTORSTREAM_KAFKA_BROKERS, else 127.0.0.1:19092).")
    var brokers: String?

    @Option(help: "Events produced for the backlog phase.")
    var events = 1_000_000

    @Option(help: "Events produced for the live phase (0 skips it).")
    var liveEvents = 300_000

    @Option(help: "Events per second produced in the live phase.")
    var rate = 25_000

    @Option(help: "Partitions of the benchmark topics.")
    var partitions = 3

    @Option(help: "Share of records made invalid on purpose (they go to the dead-letter topic).")
    var invalidRatio = 0.001

    @Option(help: "Products in the generated catalog (all embedded before the run).")
    var products = 2_000

    @Option(help: "Most events per micro-batch.")
    var maxEventsPerTrigger = 50_000

    @Option(help: "Micro-batch trigger interval (e.g. 100ms).")
    var triggerInterval = "100ms"

    enum Stores: String, ExpressibleByArgument, CaseIterable {
        case embedded
        case memory
    }

    @Option(help: "embedded (SQLite events + vector index, as `run` without backends) or memory (counting only).")
    var stores: Stores = .embedded

    @Option(help: "Directory for the embedded stores (emptied first).")
    var dataDir = ".data/bench-kafka"

    @Flag(help: "Print the figures as JSON.")
    var json = false

    struct PhaseResult: Codable {
        var phase: String
        var produced: Int
        var producedPerSecond: Double
        var stored: Int64
        var deadLettered: Int64
        var deduplicated: Int64
        var productsEmbedded: Int64
        var consumeSeconds: Double
        var eventsPerSecond: Double
        var latencyP50Millis: Double
        var latencyP99Millis: Double
        var latencyMaxMillis: Double
        var balanced: Bool

        enum CodingKeys: String, CodingKey {
            case phase, produced, stored, balanced
            case producedPerSecond = "produced_per_second"
            case deadLettered = "dead_lettered"
            case deduplicated
            case productsEmbedded = "products_embedded"
            case consumeSeconds = "consume_seconds"
            case eventsPerSecond = "events_per_second"
            case latencyP50Millis = "latency_p50_ms"
            case latencyP99Millis = "latency_p99_ms"
            case latencyMaxMillis = "latency_max_ms"
        }
    }

    func run() async throws {
        var logger = Logger(label: "vectorstream.bench.kafka")
        logger.logLevel = .warning
        let bootstrap = brokers ?? ProcessInfo.processInfo.environment["VECTORSTREAM_KAFKA_BROKERS"] ?? "127.0.0.1:19092"
        try KafkaLibrary.checkVersion()
        var generatorConfiguration = GeneratorConfiguration(seed: 42, productCount: products)
        generatorConfiguration.invalidRatio = invalidRatio
        let generator = EventGenerator(configuration: generatorConfiguration)
        var stream = generator.makeStream()

        var results: [PhaseResult] = []
        if events > 0 {
            results.append(try await phase("backlog", count: events, rate: nil, stream: &stream,
                                           catalog: generator.catalog, brokers: bootstrap, logger: logger))
        }
        if liveEvents > 0 {
            results.append(try await phase("live", count: liveEvents, rate: rate, stream: &stream,
                                           catalog: generator.catalog, brokers: bootstrap, logger: logger))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        } else {
            for r in results {
                print("""
                    \(r.phase): produced \(r.produced) (\(Int(r.producedPerSecond))/s), stored \(r.stored), \
                    dead-lettered \(r.deadLettered), deduplicated \(r.deduplicated), \
                    embedded \(r.productsEmbedded); \
                    \(Int(r.eventsPerSecond)) events/s over \(String(format: "%.2f", r.consumeSeconds)) s; \
                    produce-to-stored p50 \(String(format: "%.1f", r.latencyP50Millis)) ms, \
                    p99 \(String(format: "%.1f", r.latencyP99Millis)) ms, max \(String(format: "%.1f", r.latencyMaxMillis)) ms; \
                    stored + dead-lettered == produced: \(r.balanced)
                    """)
            }
        }
        if results.contains(where: { !$0.balanced }) { throw ExitCode(1) }
    }

    /// Produces `count` events (all first, or at `rate` while consuming) and runs the engine until every
    /// one is accounted for.
    private func phase(_ name: String, count: Int, rate: Int?, stream: inout EventStream, catalog: [Product],
                       brokers: String, logger: Logger) async throws -> PhaseResult {
        var configuration = KafkaConfiguration(bootstrapServers: brokers)
        configuration.topic = "bench-\(name)-\(UInt64(Date().timeIntervalSince1970 * 1000))"
        configuration.deadLetterTopic = configuration.topic + "-dlq"
        configuration.embeddingsReadyTopic = configuration.topic + "-embeddings-ready"
        configuration.fileProcessedTopic = configuration.topic + "-file-processed"
        configuration.groupID = configuration.topic
        configuration.sessionTimeout = .seconds(6)
        configuration.topicCreation = .init(partitions: partitions, replicationFactor: 1)
        configuration.latencyFromMessageTimestamp = true
        try await KafkaAdmin.createConfiguredTopics(configuration, logger: logger)

        // Everything the run needs is generated before the clock starts.
        let records = (0..<count).map { _ in stream.next() }
        let producer = try KafkaEventProducer(configuration: configuration, logger: logger)
        let produceAll: @Sendable () async throws -> Double = {
            let start = ContinuousClock.now
            var bucket = rate.map { TokenBucket(ratePerSecond: Double($0)) }
            var index = 0
            while index < records.count {
                var take = min(2_000, records.count - index)
                if bucket != nil {
                    let (granted, wait) = bucket!.take(take)
                    if granted == 0 {
                        try await Task.sleep(for: .nanoseconds(Int64(wait)))
                        continue
                    }
                    take = granted
                }
                try await producer.send(records[index..<(index + take)].map {
                    .init(userID: $0.event?.userID, value: $0.bytes)
                })
                index += take
            }
            try await producer.flush(timeout: .seconds(120))
            return Double(count) / Self.seconds(start.duration(to: .now))
        }

        // Backlog: everything is in the topic before the consumer starts.
        var producedPerSecond = rate == nil ? try await produceAll() : 0

        let trigger: Duration
        do {
            trigger = try parseDuration(triggerInterval, within: triggerIntervalBounds)
        } catch let error as ConfigurationError {
            throw CLIError("--trigger-interval \(triggerInterval): \(error.description)")
        }
        let source = try await KafkaEventSource(configuration: configuration, logger: logger)
        let engineConfiguration: EngineConfiguration = {
            var e = EngineConfiguration()
            e.maxEventsPerTrigger = maxEventsPerTrigger
            e.triggerInterval = trigger
            e.workerID = "bench"
            return e
        }()
        let embedder = PrewarmedEmbedder()
        let dedup = InMemoryDedupStore(capacity: count + 1_000)
        let vectors: any VectorStore
        let sink: any EventSink
        switch stores {
        case .memory:
            vectors = PrewarmedVectors(catalog: catalog, modelVersion: embedder.modelVersion)
            sink = CountingSink()
        case .embedded:
            let directory = (dataDir as NSString).appendingPathComponent(name)
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let database = try EmbeddedDatabase(directory: directory)
            let index = try EmbeddedVectorIndex(database: database, dimension: embedder.dimension)
            // The catalog already embedded: one stored vector per product under its current content hash.
            try await index.upsert(catalog.map { product in
                ProductVector(productID: product.id, vector: PrewarmedEmbedder.unitVector, name: product.name,
                              category: product.category, price: product.price, modelVersion: embedder.modelVersion,
                              contentHash: ContentHash.productRecord(product, modelVersion: embedder.modelVersion),
                              updatedAt: wallClockMillis())
            })
            vectors = index
            sink = SQLiteEventStore(database: database)
        }
        let engine = MicroBatchEngine(configuration: engineConfiguration, stages: PipelineStages(
            source: source, dedup: dedup, embedder: embedder, vectors: vectors, events: sink,
            deadLetters: try KafkaDeadLetterSink(configuration: configuration, workerID: "bench", logger: logger)),
            logger: logger)

        let running = Task { try await engine.run() }
        // Live: production starts once the worker is in the group, so no latency is the join's.
        var producing: Task<Double, Error>?
        if rate != nil {
            while !source.consumer.hasJoinedGroup { try await Task.sleep(for: .milliseconds(20)) }
            producing = Task { try await produceAll() }
        }
        // The clock starts at the first stored batch, so the group join is not counted as consuming time.
        var first: (at: ContinuousClock.Instant, events: Int64)?
        while engine.stats.eventsTotal < Int64(count) {
            try await Task.sleep(for: .milliseconds(10))
            if first == nil, case let total = engine.stats.eventsTotal, total > 0 { first = (.now, total) }
        }
        let end = ContinuousClock.now
        running.cancel()
        _ = try? await running.value
        if let producing { producedPerSecond = try await producing.value }
        await source.close()
        let consumeSeconds = first.map { Self.seconds($0.at.duration(to: end)) } ?? 0
        let consumedAfterFirst = Double(Int64(count) - (first?.events ?? 0))

        let stats = engine.stats
        return PhaseResult(
            phase: name, produced: count, producedPerSecond: producedPerSecond, stored: stats.eventsStored,
            deadLettered: stats.eventsRejected, deduplicated: stats.eventsDeduplicated,
            productsEmbedded: stats.productsEmbedded, consumeSeconds: consumeSeconds,
            eventsPerSecond: consumeSeconds > 0 ? consumedAfterFirst / consumeSeconds : 0,
            latencyP50Millis: stats.latencyP50Millis, latencyP99Millis: stats.latencyP99Millis,
            latencyMaxMillis: stats.latencyMaxMillis,
            balanced: stats.eventsStored + stats.eventsRejected + stats.eventsDeduplicated == Int64(count))
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

// MARK: Stand-ins: the catalog is already embedded, events are counted where a store would write them.

/// Not called when the catalog is pre-embedded; the engine's `products_embedded` shows any miss.
private struct PrewarmedEmbedder: TextEmbedder {
    let modelVersion = "all-MiniLM-L6-v2"
    let dimension = 384
    static let unitVector: [Float] = [1] + [Float](repeating: 0, count: 383)
    func embed(_ texts: [String]) async throws -> [[Float]] { texts.map { _ in Self.unitVector } }
}

private final class PrewarmedVectors: VectorStore {
    private let hashes: [String: String]
    private let modelVersion: String
    init(catalog: [Product], modelVersion: String) {
        self.modelVersion = modelVersion
        hashes = Dictionary(catalog.map { ($0.id, ContentHash.productRecord($0, modelVersion: modelVersion)) },
                            uniquingKeysWith: { $1 })
    }
    func upsert(_ vectors: [ProductVector]) async throws {}
    func search(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String) async throws -> [SearchHit] { [] }
    func vector(forProduct id: String) async throws -> ProductVector? { nil }
    func contentHashes(forProducts ids: [String]) async throws -> [String: (contentHash: String, modelVersion: String)] {
        var out: [String: (contentHash: String, modelVersion: String)] = [:]
        for id in ids { if let hash = hashes[id] { out[id] = (hash, modelVersion) } }
        return out
    }
    func count() async throws -> Int { hashes.count }
}

private final class CountingSink: EventSink {
    let stored = Atomic<Int>(0)
    func store(_ events: [AcceptedEvent]) async throws { stored.add(events.count, ordering: .relaxed) }
}
