import ArgumentParser
import Foundation
import Synchronization
import VectorStreamCore
import VectorStreamGenerator
import VectorStreamRedis

/// The cost of Redis dedup inside a full pipeline run (generator → parse → dedup → embed → stores).
///
/// The engine times the event-claim round trip of every batch (`dedup_us_per_event`); this command also
/// times every other dedup call (confirms, product-text claims, releases) through a timing wrapper, so the
/// whole cost of "never process twice" per event is on record, not only the claim.
struct BenchDedupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dedup", abstract: "Amortised Redis dedup cost per event, measured inside a full pipeline run.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Events to generate.") var events = 200_000
    @Option(help: "Products in the catalog.") var products = 2_000
    @Option(help: "Events per micro-batch.") var batch = 10_000
    @Option(help: "redis:// or rediss:// URL (default: redis.url of the configuration).") var redisURL: String?
    @Option(help: "Dedup store: redis, or memory for the embedded baseline.") var dedup = "redis"

    func run() async throws {
        var config = try global.loadConfiguration()
        config.pipeline.triggerInterval = .milliseconds(100)
        config.pipeline.maxEventsPerTrigger = batch
        if let redisURL { config.redis.url = redisURL }
        _ = Observability.bootstrap(logLevel: global.logLevel)
        let logger = global.makeLogger("vectorstream.bench")
        let dataDirectory = global.dataDir ?? (config.dataDirectory as NSString).appendingPathComponent("bench-dedup")
        try? FileManager.default.removeItem(atPath: dataDirectory)
        let assembly = try await PipelineAssembly.make(configuration: config, dataDirectory: dataDirectory, logger: logger)

        var generatorConfig = GeneratorConfiguration(productCount: products)
        generatorConfig.liveTimestamps = true
        let source = GeneratorSource(generator: EventGenerator(configuration: generatorConfig), events: events, rate: nil,
                                     bufferCapacity: batch * 2)
        var stages = assembly.stages(source: source)
        var backend: RedisBackend?
        switch dedup {
        case "redis":
            guard config.redis.url != nil else {
                throw ValidationError("set --redis-url or VECTORSTREAM_REDIS_URL (scripts/services/redis.sh start)")
            }
            // A fresh key prefix: every event is new to Redis, as in a real first pass.
            var store = try RedisStoreConfiguration(settings: config.redis)
            store.keyPrefix = "vectorstream-bench:\(UInt32.random(in: 0...UInt32.max)):"
            let redis = RedisBackend(configuration: store, workerID: config.pipeline.workerID,
                                     embeddingDimension: assembly.embedder.dimension, logger: logger)
            try await redis.checkReachable()
            stages.dedup = redis.dedup
            stages.embeddingCache = redis.embeddingCache
            stages.queryCache = redis.queryCache
            stages.liveState = redis.liveState
            backend = redis
        case "memory":
            break
        default:
            throw ValidationError("--dedup must be redis or memory")
        }
        let timed = TimedDedupStore(inner: stages.dedup)
        stages.dedup = timed

        let engine = MicroBatchEngine(configuration: config.engine, stages: stages, logger: logger)
        try await engine.run()
        let stats = engine.stats
        let calls = timed.totals()
        await backend?.close()
        await assembly.shutdown()

        let valid = Double(max(stats.eventsValid, 1))
        func micros(_ nanos: UInt64) -> Double { (Double(nanos) / 1000 / valid * 1000).rounded() / 1000 }
        let summary: [String: Any] = [
            "dedup_store": dedup,
            "redis": config.redis.url.map(VectorStreamConfiguration.maskURL) ?? "none",
            "events": stats.eventsTotal, "events_valid": stats.eventsValid, "events_stored": stats.eventsStored,
            "events_deduplicated": stats.eventsDeduplicated, "batch_size": batch, "batches": stats.batches,
            "products_embedded": stats.productsEmbedded,
            "elapsed_seconds": (stats.elapsedSeconds * 1000).rounded() / 1000,
            "events_per_second": stats.eventsPerSecond.rounded(),
            // What the engine measures: the event-claim round trip per batch.
            "dedup_us_per_event": (stats.dedupMicrosPerEvent * 1000).rounded() / 1000,
            // Every dedup call, per valid event.
            "dedup_us_per_event_all_calls": micros(calls.values.reduce(0) { $0 + $1.nanos }),
            "dedup_calls": calls.mapValues { ["calls": $0.calls, "keys": $0.keys, "us_per_event": micros($0.nanos)] as [String: Any] },
        ]
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted])
        print(String(decoding: data, as: UTF8.self))
    }
}

/// Times every dedup call by kind ("claim event", "confirm text", ...).
final class TimedDedupStore: DedupStore {
    struct Totals: Sendable { var calls = 0, keys = 0, nanos: UInt64 = 0 }
    let inner: any DedupStore
    private let totalsByCall = Mutex<[String: Totals]>([:])

    init(inner: any DedupStore) {
        self.inner = inner
    }

    func totals() -> [String: Totals] { totalsByCall.withLock { $0 } }

    private func timed<T>(_ call: String, _ namespace: DedupNamespace, keys: Int, _ body: () async throws -> T) async rethrows -> T {
        let start = monotonicNanos()
        defer {
            let nanos = monotonicNanos() &- start
            totalsByCall.withLock { t in
                t["\(call) \(namespace.rawValue)", default: Totals()].calls += 1
                t["\(call) \(namespace.rawValue)"]!.keys += keys
                t["\(call) \(namespace.rawValue)"]!.nanos += nanos
            }
        }
        return try await body()
    }

    func claim(_ keys: [String], in namespace: DedupNamespace) async throws -> [ClaimOutcome] {
        try await timed("claim", namespace, keys: keys.count) { try await inner.claim(keys, in: namespace) }
    }

    func confirm(_ keys: [String], in namespace: DedupNamespace) async throws {
        try await timed("confirm", namespace, keys: keys.count) { try await inner.confirm(keys, in: namespace) }
    }

    func release(_ keys: [String], in namespace: DedupNamespace) async throws {
        try await timed("release", namespace, keys: keys.count) { try await inner.release(keys, in: namespace) }
    }
}
