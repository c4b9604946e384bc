import Foundation
import GRDB
import Synchronization
import Testing
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamGenerator

@Suite("Embedded pipeline")
struct EmbeddedPipelineTests {
    struct Setup {
        let database: EmbeddedDatabase
        let events: SQLiteEventStore
        let vectors: EmbeddedVectorIndex
        let embedder: CountingHashEmbedder
        let directory: String

        init(_ name: String = #function, embedder: CountingHashEmbedder = CountingHashEmbedder()) throws {
            directory = temporaryDirectory(name)
            database = try EmbeddedDatabase(directory: directory)
            events = SQLiteEventStore(database: database, deadLetterFile: directory + "/dead-letter.jsonl")
            vectors = try EmbeddedVectorIndex(database: database)
            self.embedder = embedder
        }

        /// The same stores under another embedder (a model change).
        init(sharing other: Setup, embedder: CountingHashEmbedder) {
            directory = other.directory
            database = other.database
            events = other.events
            vectors = other.vectors
            self.embedder = embedder
        }

        func engine(_ source: any EventSource, sink: (any EventSink)? = nil, deadLetters: (any DeadLetterSink)? = nil,
                    maxBatch: Int = 1_000) -> MicroBatchEngine {
            var config = EngineConfiguration()
            config.triggerInterval = .milliseconds(10)
            config.maxEventsPerTrigger = maxBatch
            config.retryInitialBackoff = .milliseconds(5)
            return MicroBatchEngine(configuration: config, stages: PipelineStages(
                source: source, dedup: InMemoryDedupStore(), embedder: embedder, embeddingCache: InMemoryEmbeddingCache(),
                vectors: vectors, events: sink ?? events, deadLetters: deadLetters ?? events))
        }
    }

    static func generated(_ n: Int, products: Int = 100, invalidRatio: Double = 0, seed: UInt64 = 1) -> [GeneratedRecord] {
        var stream = EventGenerator(configuration: GeneratorConfiguration(seed: seed, productCount: products,
                                                                          invalidRatio: invalidRatio)).makeStream()
        return (0..<n).map { _ in stream.next() }
    }

    @Test func storesEveryValidEventOnceAndRejectsEveryBadOneWithItsReason() async throws {
        let setup = try Setup()
        // A new file gets 16 KiB pages in WAL mode (fewer, fuller pages written per commit).
        let (pageSize, journal) = try await setup.database.pool.read { db in
            (try Int.fetchOne(db, sql: "PRAGMA page_size"), try String.fetchOne(db, sql: "PRAGMA journal_mode"))
        }
        #expect(pageSize == 16_384 && journal == "wal")
        // 1,000 malformed records (every kind in turn) among 100,000 good ones.
        let good = Self.generated(100_000, invalidRatio: 0)
        let bad = Self.generated(1_000, invalidRatio: 1, seed: 5)
        var records: [GeneratedRecord] = []
        records.reserveCapacity(101_000)
        for (i, record) in good.enumerated() {
            records.append(record)
            if i % 100 == 99 { records.append(bad[i / 100]) }
        }
        let engine = setup.engine(ArraySource(records.map(\.bytes)), maxBatch: 10_000)
        try await engine.run()

        let valid = records.compactMap(\.event)
        let invalid = records.filter { $0.event == nil }
        #expect(invalid.count == 1_000)
        #expect(try await setup.events.eventCount() == Int64(valid.count))
        #expect(try await setup.events.deadLetterCount() == Int64(invalid.count))
        var expectedByCode: [String: Int64] = [:]
        for r in invalid { expectedByCode[r.invalidKind!.expectedCode, default: 0] += 1 }
        #expect(try await setup.events.deadLettersByCode() == expectedByCode)
        let stats = engine.stats
        #expect(stats.eventsValid == Int64(valid.count))
        #expect(stats.eventsRejected == Int64(invalid.count))

        // The dead-letter file keeps each bad record whole, with its reason.
        let lines = try String(contentsOfFile: setup.directory + "/dead-letter.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == invalid.count)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        #expect(first["reason"] is String && first["code"] is String && first["source"] is [String: Any])
    }

    @Test func embedsEachProductOnceAndUpsertsOneVectorPerProduct() async throws {
        let setup = try Setup()
        let records = Self.generated(5_000, products: 60)
        try await setup.engine(ArraySource(records.map(\.bytes)), maxBatch: 500).run()
        let products = Set(records.compactMap { $0.event?.product.id })
        #expect(try await setup.vectors.count() == products.count)
        #expect(setup.embedder.embeddedTexts.count == products.count)
        #expect(setup.embedder.embeddedTexts.values.allSatisfy { $0 == 1 })
    }

    static func event(_ id: Int, product: String, price: Double, description: String = "A sturdy mug") -> [UInt8] {
        Array(#"{"event_id":"price-\#(id)","timestamp":"2024-01-15T10:30:00Z","user_id":"u","event_type":"view","product":{"id":"\#(product)","name":"Mug","description":"\#(description)","category":"Home","price":\#(price)},"session_id":"s"}"#.utf8)
    }

    @Test func aNewPriceRewritesThePayloadWithoutEmbeddingAgainAndAnOldPriceCanReturn() async throws {
        let setup = try Setup()
        let prices: [Double] = [10, 12.5, 10]
        for (step, price) in prices.enumerated() {
            // One engine per step: a restart with empty in-memory state, so the stored record hash decides.
            try await setup.engine(ArraySource([Self.event(step, product: "mug", price: price)])).run()
            let stored = try #require(try await setup.vectors.vector(forProduct: "mug"))
            #expect(stored.price == price, "step \(step)")
        }
        // Within one engine: the price changes twice, the text never: one embedding of the text.
        let second = try Setup("priceWithinOneEngine")
        let events = prices.enumerated().map { Self.event(10 + $0.offset, product: "cup", price: $0.element) }
        try await second.engine(ArraySource(events), maxBatch: 1).run()
        #expect(try await second.vectors.vector(forProduct: "cup")?.price == 10)
        #expect(second.embedder.embeddedTexts.values.reduce(0, +) == 1)
        // In one batch the last event's price wins, also when it is the one already known: batches of two,
        // [10, 10] then [15, 10], leave 10; a later batch [10, 15] leaves 15.
        let third = try Setup("priceLastEventWins")
        let jug = [10, 10, 15, 10].enumerated().map { Self.event(40 + $0.offset, product: "jug", price: Double($0.element)) }
        try await third.engine(ArraySource(jug), maxBatch: 2).run()
        #expect(try await third.vectors.vector(forProduct: "jug")?.price == 10)
        try await third.engine(ArraySource([Self.event(50, product: "jug", price: 10), Self.event(51, product: "jug", price: 15)]),
                               maxBatch: 2).run()
        #expect(try await third.vectors.vector(forProduct: "jug")?.price == 15)
        // A new text is embedded again.
        try await second.engine(ArraySource([Self.event(20, product: "cup", price: 10, description: "A tall cup")])).run()
        #expect(second.embedder.embeddedTexts.values.reduce(0, +) == 2)
    }

    @Test func replayingTheSameInputStoresNothingTwiceAndEmbedsNothingAgain() async throws {
        let setup = try Setup()
        let records = Self.generated(3_000, products: 40)
        try await setup.engine(ArraySource(records.map(\.bytes))).run()
        // A second engine (a restart: empty in-memory dedup) over the same records.
        try await setup.engine(ArraySource(records.map(\.bytes))).run()
        #expect(try await setup.events.eventCount() == 3_000)
        #expect(setup.embedder.embeddedTexts.values.allSatisfy { $0 == 1 })
        // Duplicates within one batch are stored once too.
        let dup = Self.generated(10, products: 5, seed: 77).map(\.bytes)
        try await setup.engine(ArraySource(dup + dup + dup)).run()
        #expect(try await setup.events.eventCount() == 3_010)
    }

    /// A sink that fails its first calls: the engine retries the same batch, releases its claims, loses nothing.
    final class FlakySink: EventSink, Sendable {
        let inner: SQLiteEventStore
        let failuresLeft = Mutex(3)
        init(_ inner: SQLiteEventStore) { self.inner = inner }

        struct Unavailable: Error {}

        func store(_ events: [AcceptedEvent]) async throws {
            let fail = failuresLeft.withLock { n -> Bool in
                if n > 0 { n -= 1; return true }
                return false
            }
            if fail { throw Unavailable() }
            try await inner.store(events)
        }
    }

    @Test func aFailingSinkIsRetriedAndNothingIsLost() async throws {
        let setup = try Setup()
        let records = Self.generated(2_000, products: 30)
        let engine = setup.engine(ArraySource(records.map(\.bytes)), sink: FlakySink(setup.events), maxBatch: 700)
        try await engine.run()
        #expect(try await setup.events.eventCount() == 2_000)
        #expect(engine.stats.batchRetries == 3)
        #expect(engine.stats.eventsStored == 2_000)
    }

    /// Counts every dead letter handed to it (a Kafka topic would receive each one).
    final class CountingDeadLetters: DeadLetterSink, Sendable {
        let received = Mutex<[SourcePosition]>([])
        func store(_ rejected: [RejectedRecord]) async throws { received.withLock { $0 += rejected.map(\.position) } }
    }

    @Test func aRetriedBatchSendsItsDeadLettersOnce() async throws {
        let setup = try Setup()
        let records = Self.generated(2_000, products: 30, invalidRatio: 0.05, seed: 3)
        let invalid = records.filter { $0.event == nil }.count
        #expect(invalid > 0)
        let deadLetters = CountingDeadLetters()
        let engine = setup.engine(ArraySource(records.map(\.bytes)), sink: FlakySink(setup.events),
                                  deadLetters: deadLetters, maxBatch: 700)
        try await engine.run()
        #expect(engine.stats.batchRetries == 3)
        let received = deadLetters.received.withLock { $0 }
        #expect(received.count == invalid)
        #expect(Set(received).count == invalid)
        #expect(try await setup.events.eventCount() == 2_000 - invalid)
    }

    @Test func aModelChangeReembedsAndSearchUsesOnlyTheCurrentVersion() async throws {
        let setup = try Setup()
        let records = Self.generated(1_000, products: 20)
        try await setup.engine(ArraySource(records.map(\.bytes))).run()
        let v2 = CountingHashEmbedder(modelVersion: "hash-v2")
        let second = Setup(sharing: setup, embedder: v2)
        // New events for the same products under the new model.
        try await second.engine(ArraySource(Self.generated(1_000, products: 20, seed: 2).map(\.bytes))).run()
        #expect(try await setup.vectors.count() == 20)
        #expect(v2.embeddedTexts.count == 20)
        let query = CountingHashEmbedder.vector("anything")
        #expect(try await setup.vectors.search(query, k: 50, filter: SearchFilter(), modelVersion: "hash-v1").isEmpty)
        #expect(try await setup.vectors.search(query, k: 50, filter: SearchFilter(), modelVersion: "hash-v2").count == 20)
    }

    @Test func analyticsMatchAnIndependentCount() async throws {
        let setup = try Setup()
        var config = GeneratorConfiguration(seed: 11, productCount: 50)
        config.startTime = wallClockMillis() - 30 * 60_000
        config.millisPerEvent = 200
        var stream = EventGenerator(configuration: config).makeStream()
        let events = (0..<5_000).map { _ in stream.next() }
        try await setup.engine(ArraySource(events.map(\.bytes))).run()

        let all = events.compactMap(\.event)
        let funnel = try await setup.events.funnel(since: 0)
        func sessions(_ type: EventType) -> Int64 { Int64(Set(all.filter { $0.type == type }.map(\.sessionID)).count) }
        #expect(funnel.views == sessions(.view))
        #expect(funnel.carts == sessions(.addToCart))
        #expect(funnel.purchases == sessions(.purchase))
        #expect(funnel.views > funnel.carts && funnel.carts > funnel.purchases)

        var purchases: [String: Int64] = [:]
        for e in all where e.type == .purchase { purchases[e.product.id, default: 0] += 1 }
        let top = try await setup.events.topProducts(eventType: .purchase, since: 0, limit: 5)
        #expect(top.first?.count == purchases.values.max())
        for row in top { #expect(purchases[row.productID] == row.count) }

        var revenue: [String: Double] = [:]
        for e in all where e.type == .purchase { revenue[e.product.category, default: 0] += e.product.price }
        for c in try await setup.events.categories(since: 0) where c.purchases > 0 {
            #expect(abs(c.revenue - revenue[c.category]!) < 0.01)
        }
        // A window excludes older minutes.
        let recent = try await setup.events.funnel(since: wallClockMillis() - 5 * 60_000)
        #expect(recent.views < funnel.views)
    }

    @Test func fileSourceResumesFromTheCommittedOffset() async throws {
        let setup = try Setup()
        let path = setup.directory + "/events.jsonl"
        let records = Self.generated(1_000, products: 10)
        try Data(records.flatMap { $0.bytes + [0x0A] }).write(to: URL(fileURLWithPath: path))
        let first = try JSONLinesFileSource(path: path, database: setup.database)
        let batch = try await first.nextBatch(maxRecords: 300, deadline: .now)!
        #expect(batch.records.count == 300)
        try await first.acknowledge(batch.commitToken)
        // Read more without acknowledging, then "crash".
        _ = try await first.nextBatch(maxRecords: 300, deadline: .now)
        let second = try JSONLinesFileSource(path: path, database: setup.database)
        let resumed = try await second.nextBatch(maxRecords: 10_000, deadline: .now)!
        #expect(resumed.records.count == 700)
        #expect(resumed.records.first?.bytes == records[300].bytes)
        #expect(try await second.nextBatch(maxRecords: 10, deadline: .now) == nil)
    }
}
