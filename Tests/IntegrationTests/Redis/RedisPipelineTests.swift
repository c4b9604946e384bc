import Foundation
import Logging
import RedisClient
import Synchronization
import Testing
import VectorStreamCore
import VectorStreamRedis

/// Whole pipelines (the core's MicroBatchEngine) sharing Redis dedup, as several workers would.
@Suite("Two workers sharing Redis dedup")
struct RedisPipelineTests {
    struct Run {
        let stream: TestEventStream
        let sink = CountingEventSink()
        let embedder = CountingEmbedder()
        let vectors = MemoryVectorStore()
        let deadLetters = CollectingDeadLetters()
    }

    /// One engine per worker, each with its own Redis connections and claim token, over the whole stream.
    private func makeEngine(_ run: Run, worker: String, configuration: RedisStoreConfiguration) -> (MicroBatchEngine, RedisBackend) {
        var quiet = Logger(label: "test.redis.\(worker)")
        quiet.logLevel = .error
        let backend = RedisBackend(configuration: configuration, workerID: worker, embeddingDimension: run.embedder.dimension,
                                   logger: quiet)
        var engineConfiguration = EngineConfiguration()
        engineConfiguration.maxEventsPerTrigger = 10_000
        engineConfiguration.triggerInterval = .milliseconds(50)
        engineConfiguration.retryInitialBackoff = .milliseconds(50)
        engineConfiguration.retryMaxBackoff = .milliseconds(400)
        engineConfiguration.workerID = worker
        let stages = PipelineStages(
            source: ArraySource(records: run.stream.records), dedup: backend.dedup, embedder: run.embedder,
            embeddingCache: backend.embeddingCache, vectors: run.vectors, events: run.sink.sink(for: worker),
            deadLetters: run.deadLetters, queryCache: backend.queryCache, liveState: backend.liveState)
        var logger = Logger(label: "test.engine.\(worker)")
        logger.logLevel = .error
        return (MicroBatchEngine(configuration: engineConfiguration, stages: stages, logger: logger), backend)
    }

    private func checkExactlyOnce(_ run: Run, allowReplays: Bool) {
        #expect(run.deadLetters.count.load(ordering: .relaxed) == 0)
        #expect(run.sink.count == run.stream.uniqueEventIDs.count, "every event stored")
        #expect(run.sink.storedIDs == run.stream.uniqueEventIDs)
        #expect(run.sink.crossWorkerDuplicates.load(ordering: .relaxed) == 0, "no event processed by both workers")
        if !allowReplays { #expect(run.sink.sameWorkerReplays.load(ordering: .relaxed) == 0) }
        let counts = run.embedder.embedCounts
        #expect(Set(counts.keys) == run.stream.productTexts, "every product text embedded")
        #expect(counts.values.allSatisfy { $0 == 1 }, "no text embedded twice: \(counts.values.filter { $0 > 1 }.count) were")
    }

    @Test("100,000 events read by both workers at once: each event stored once, each text embedded once")
    func twoWorkersExactlyOnce() async throws {
        let run = Run(stream: TestEventStream(events: 100_000, products: 2_000))
        let configuration = try RedisTestServer.storeConfiguration(prefix: RedisTestServer.uniquePrefix())
        let (a, backendA) = makeEngine(run, worker: "worker-a", configuration: configuration)
        let (b, backendB) = makeEngine(run, worker: "worker-b", configuration: configuration)
        defer { Task { await backendA.close(); await backendB.close() } }

        async let runA: Void = a.run()
        async let runB: Void = b.run()
        _ = try await (runA, runB)

        checkExactlyOnce(run, allowReplays: false)
        #expect(a.stats.eventsStored + b.stats.eventsStored == Int64(run.stream.uniqueEventIDs.count))
        #expect(a.stats.eventsValid == 100_000 && b.stats.eventsValid == 100_000)
        // Live state of both, read as the API would.
        let live = try await backendA.liveState.workers()
        #expect(live["worker-a"]?.eventsStored == a.stats.eventsStored)
        #expect(live["worker-b"]?.eventsStored == b.stats.eventsStored)
    }

    /// Blocks in `embed` until cancelled, as a worker killed mid-batch would: its claims stay in Redis.
    final class FrozenEmbedder: TextEmbedder {
        let modelVersion = CountingEmbedder().modelVersion
        let dimension = 8
        let entered = Atomic<Bool>(false)
        func embed(_ texts: [String]) async throws -> [[Float]] {
            entered.store(true, ordering: .releasing)
            try await Task.sleep(for: .seconds(3600))
            throw CancellationError()
        }
    }

    @Test("a worker that dies holding claims: the next one waits out the lease and stores every event and vector (F1)")
    func crashedWorkersClaimsAreRedone() async throws {
        let run = Run(stream: TestEventStream(events: 5_000, products: 300))
        var configuration = try RedisTestServer.storeConfiguration(prefix: RedisTestServer.uniquePrefix())
        // The crashed worker's lease: long enough that the restarted worker surely starts inside it, even on a
        // loaded 2-core machine (it then waits up to this long).
        configuration.claimLease = .seconds(20)

        // The "crashed" worker: claims the whole stream's events and product records, then never returns.
        var quiet = Logger(label: "test.redis.crashed")
        quiet.logLevel = .error
        let crashedBackend = RedisBackend(configuration: configuration, workerID: "crashed", embeddingDimension: 8,
                                          logger: quiet)
        let frozen = FrozenEmbedder()
        var crashedConfiguration = EngineConfiguration()
        crashedConfiguration.maxEventsPerTrigger = 10_000
        crashedConfiguration.triggerInterval = .milliseconds(50)
        let crashed = MicroBatchEngine(configuration: crashedConfiguration, stages: PipelineStages(
            source: ArraySource(records: run.stream.records), dedup: crashedBackend.dedup, embedder: frozen,
            vectors: run.vectors, events: run.sink.sink(for: "crashed"), deadLetters: run.deadLetters), logger: quiet)
        let crashedRun = Task { try await crashed.run() }
        while !frozen.entered.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(10)) }

        // A restarted process (new claim token) over the same records.
        let (b, backendB) = makeEngine(run, worker: "worker-b", configuration: configuration)
        defer { Task { crashedRun.cancel(); await crashedBackend.close(); await backendB.close() } }
        let started = ContinuousClock.now
        try await b.run()
        let elapsed = started.duration(to: .now)

        #expect(run.sink.perWorker()["crashed"] == nil, "the frozen worker stored nothing")
        checkExactlyOnce(run, allowReplays: false)
        #expect(b.stats.eventsStored == Int64(run.stream.uniqueEventIDs.count))
        #expect(b.stats.eventsWaitedForClaims > 0, "the held events were waited for")
        #expect(try await run.vectors.count() == run.stream.productTexts.count, "every product has its vector")
        #expect(elapsed >= .seconds(1), "the held claims were waited out (lease 20 s), took \(elapsed)")
    }

    @Test("Redis restarted mid-run: both workers wait, resume, lose nothing and never both process an event")
    func restartMidRun() async throws {
        let instance = "pipeline-restart"
        let url = try RedisTestServer.startInstance(instance, port: 16393)
        defer { try? RedisTestServer.stopInstance(instance) }
        let run = Run(stream: TestEventStream(events: 100_000, products: 2_000))
        var configuration = try RedisTestServer.storeConfiguration(url: url, prefix: RedisTestServer.uniquePrefix())
        configuration.client.reconnectMaxBackoff = .milliseconds(200)
        let (a, backendA) = makeEngine(run, worker: "worker-a", configuration: configuration)
        let (b, backendB) = makeEngine(run, worker: "worker-b", configuration: configuration)
        defer { Task { await backendA.close(); await backendB.close() } }

        let healthDuringOutage = try await withThrowingTaskGroup(of: DependencyHealth?.self) { group in
            group.addTask { try await a.run(); return nil }
            group.addTask { try await b.run(); return nil }
            group.addTask {
                while run.sink.count < 30_000 { try await Task.sleep(for: .milliseconds(5)) }
                try RedisTestServer.stopInstance(instance)
                let health = await backendA.health.checkHealth()
                try await Task.sleep(for: .seconds(1))
                _ = try RedisTestServer.startInstance(instance, port: 16393)
                return health
            }
            var health: DependencyHealth?
            for try await result in group { if let result { health = result } }
            return health
        }

        guard case .down = healthDuringOutage else { Issue.record("health during the outage: \(String(describing: healthDuringOutage))"); return }
        #expect(a.stats.batchRetries + b.stats.batchRetries > 0, "the outage was felt and batches were retried")
        // A batch whose confirm failed after its events were stored is replayed by its own worker into the
        // idempotent sink; what must never happen is an event handled by both workers or not at all.
        checkExactlyOnce(run, allowReplays: true)
        #expect(run.sink.sameWorkerReplays.load(ordering: .relaxed) <= 2 * 10_000, "at most the batch in flight per worker")
    }
}
