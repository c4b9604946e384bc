import Logging
import Metrics
import Synchronization

/// How the engine forms and retries micro-batches.
public struct EngineConfiguration: Sendable, Hashable {
    /// A batch closes when it is full or this long after the previous one closed. Default 10 s, as Spark's.
    public var triggerInterval: Duration = .seconds(10)
    /// The most events one batch takes; bounds memory whatever the input rate.
    public var maxEventsPerTrigger: Int = 50_000
    public var limits = ValidationLimits()
    /// First and longest wait between retries of a failed batch.
    public var retryInitialBackoff: Duration = .milliseconds(100)
    public var retryMaxBackoff: Duration = .seconds(5)
    /// Names this worker in live state and logs.
    public var workerID: String = "worker-1"

    public init() {}
}

/// The stages a batch passes through; each is a protocol so backends plug in.
public struct PipelineStages: Sendable {
    public var source: any EventSource
    public var dedup: any DedupStore
    public var embedder: any TextEmbedder
    public var embeddingCache: (any EmbeddingCache)?
    public var vectors: any VectorStore
    public var events: any EventSink
    public var deadLetters: any DeadLetterSink
    public var notifier: (any Notifier)?
    public var queryCache: (any QueryCache)?
    public var liveState: (any LiveStateStore)?

    public init(source: any EventSource, dedup: any DedupStore, embedder: any TextEmbedder,
                embeddingCache: (any EmbeddingCache)? = nil, vectors: any VectorStore, events: any EventSink,
                deadLetters: any DeadLetterSink, notifier: (any Notifier)? = nil,
                queryCache: (any QueryCache)? = nil, liveState: (any LiveStateStore)? = nil) {
        self.source = source
        self.dedup = dedup
        self.embedder = embedder
        self.embeddingCache = embeddingCache
        self.vectors = vectors
        self.events = events
        self.deadLetters = deadLetters
        self.notifier = notifier
        self.queryCache = queryCache
        self.liveState = liveState
    }
}

/// Reads micro-batches and runs them through parse → dedup → embed → upsert → store → notify → acknowledge.
///
/// One batch at a time, pulled only when the previous one is acknowledged: memory stays bounded and a slow
/// stage slows intake. A failed batch releases its claims and is retried with backoff, never skipped, and
/// nothing is acknowledged before every sink has stored it.
public final class MicroBatchEngine: Sendable {
    public let configuration: EngineConfiguration
    private let stages: PipelineStages
    private let logger: Logger
    private let parser: EventParser
    private let state = Mutex(EngineState())
    private let metrics = EngineMetrics()

    struct EngineState {
        var stats = PipelineStats()
        var latency = LatencyHistogram()
        var dedupNanos: UInt64 = 0
        var startedAt: ContinuousClock.Instant?
        var steadyEvents: Int64 = 0
        var steadyNanos: UInt64 = 0
        var lastBatchEmbedded = 0
        var stopRequested = false
        /// Products known to be stored with their current text: skips hashing and the vector store round trip.
        var knownProducts: [String: KnownProduct] = [:]
    }

    public init(configuration: EngineConfiguration, stages: PipelineStages,
                logger: Logger = Logger(label: "vectorstream.engine")) {
        self.configuration = configuration
        self.stages = stages
        self.logger = logger
        self.parser = EventParser(limits: configuration.limits)
    }

    /// A consistent copy of the running totals.
    public var stats: PipelineStats {
        state.withLock { s in
            var stats = s.stats
            if let started = s.startedAt {
                let elapsed = started.duration(to: .now)
                stats.elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                stats.eventsPerSecond = stats.elapsedSeconds > 0 ? Double(stats.eventsTotal) / stats.elapsedSeconds : 0
            }
            stats.latencyP50Millis = s.latency.quantileMillis(0.5)
            stats.latencyP99Millis = s.latency.quantileMillis(0.99)
            stats.latencyMaxMillis = Double(s.latency.maxNanos) / 1e6
            stats.steadyEventsPerSecond = s.steadyNanos > 0 ? Double(s.steadyEvents) / (Double(s.steadyNanos) / 1e9) : 0
            stats.dedupMicrosPerEvent = stats.eventsValid > 0 ? Double(s.dedupNanos) / 1000 / Double(stats.eventsValid) : 0
            stats.updatedAt = wallClockMillis()
            return stats
        }
    }

    /// Asks the loop to stop after the batch in flight (graceful shutdown, `--until-idle`).
    public func requestStop() {
        state.withLock { $0.stopRequested = true }
    }

    private var stopRequested: Bool { state.withLock { $0.stopRequested } }

    /// Runs until the source is exhausted, `requestStop()`, or cancellation; a batch in flight is finished first.
    public func run() async throws {
        state.withLock { $0.startedAt = $0.startedAt ?? .now }
        var deadline = ContinuousClock.now.advanced(by: configuration.triggerInterval)
        while !Task.isCancelled && !stopRequested {
            let iterationStart = monotonicNanos()
            guard let batch = try await stages.source.nextBatch(maxRecords: configuration.maxEventsPerTrigger,
                                                                  deadline: deadline)
            else { break }
            if batch.records.isEmpty {
                deadline = ContinuousClock.now.advanced(by: configuration.triggerInterval)
                await publishLiveState()
                continue
            }
            deadline = ContinuousClock.now.advanced(by: configuration.triggerInterval)
            try await processWithRetry(batch)
            let iterationNanos = monotonicNanos() &- iterationStart
            state.withLock { s in
                if s.lastBatchEmbedded == 0 {
                    s.steadyEvents += Int64(batch.records.count)
                    s.steadyNanos += iterationNanos
                }
            }
            for (partition, lag) in await stages.source.lag() {
                Gauge(label: "vectorstream_consumer_lag", dimensions: [("topic", partition.topic),
                                                                       ("partition", String(partition.partition))])
                    .record(lag)
            }
            await publishLiveState()
        }
        await publishLiveState()
    }

    private func processWithRetry(_ batch: RecordBatch) async throws {
        var backoff = configuration.retryInitialBackoff
        var attempt = 0
        // Rejections are final: once stored, a retry of the batch (a later stage failed) does not send them again.
        var deadLettersStored = false
        while true {
            do {
                try await process(batch, deadLettersStored: &deadLettersStored)
                return
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                attempt += 1
                state.withLock { $0.stats.batchRetries += 1 }
                metrics.retries.increment()
                logger.warning("batch failed; retrying", metadata: [
                    "attempt": "\(attempt)", "backoff": "\(backoff)", "error": "\(error)",
                ])
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, configuration.retryMaxBackoff)
            }
        }
    }

    /// One batch through every stage. Throws without acknowledging when any stage fails.
    func process(_ batch: RecordBatch, deadLettersStored: inout Bool) async throws {
        let batchStart = ContinuousClock.now
        metrics.batchSize.record(batch.records.count)

        // Parse and validate.
        var accepted: [AcceptedEvent] = []
        accepted.reserveCapacity(batch.records.count)
        var rejected: [RejectedRecord] = []
        for record in batch.records {
            switch parser.parse(record.bytes) {
            case .success(let event):
                accepted.append(AcceptedEvent(event: event, raw: record.bytes, position: record.position,
                                              arrivalNanos: record.arrivalNanos))
            case .failure(let reason):
                rejected.append(RejectedRecord(raw: record.bytes, reason: reason, position: record.position))
            }
        }
        metrics.parse.recordInterval(since: batchStart)
        if !rejected.isEmpty && !deadLettersStored { try await stages.deadLetters.store(rejected) }
        deadLettersStored = true

        // Dedup events: first within the batch, then against everything already processed.
        let dedupStart = ContinuousClock.now
        var seenInBatch = Set<String>(minimumCapacity: accepted.count)
        var unique: [AcceptedEvent] = []
        unique.reserveCapacity(accepted.count)
        for event in accepted where seenInBatch.insert(event.event.eventID).inserted { unique.append(event) }
        let eventKeys = unique.map(\.event.eventID)
        let claimed = eventKeys.isEmpty ? [] : try await stages.dedup.claim(eventKeys, in: .event)
        var fresh: [AcceptedEvent] = []
        fresh.reserveCapacity(unique.count)
        var claimedEventKeys: [String] = []
        claimedEventKeys.reserveCapacity(unique.count)
        for (event, won) in zip(unique, claimed) where won {
            fresh.append(event)
            claimedEventKeys.append(event.event.eventID)
        }
        let dedupElapsed = dedupStart.duration(to: .now)
        let dedupNanos = UInt64(dedupElapsed.components.seconds) * 1_000_000_000
            + UInt64(dedupElapsed.components.attoseconds / 1_000_000_000)
        metrics.dedup.recordNanoseconds(Int64(dedupNanos))

        var claimedTextKeys: [String] = []
        do {
            // Embed only products whose text is new, and upsert one vector per product.
            let embedStart = ContinuousClock.now
            let (embeddedIDs, textKeys, cacheHits) = try await embedNewProducts(in: fresh)
            claimedTextKeys = textKeys
            metrics.embed.recordInterval(since: embedStart)

            // Store events (idempotent) and acknowledge.
            let storeStart = ContinuousClock.now
            if !fresh.isEmpty { try await stages.events.store(fresh) }
            metrics.store.recordInterval(since: storeStart)
            if !claimedEventKeys.isEmpty { try await stages.dedup.confirm(claimedEventKeys, in: .event) }
            // Product records are released, not marked done: the vector store holds each product's current record
            // hash (checked before claiming), and a done marker would keep a product from ever returning to an
            // earlier text or price (a sale that ends). The claim only keeps two workers off the same record.
            if !claimedTextKeys.isEmpty { try await stages.dedup.release(claimedTextKeys, in: .productText) }
            if !embeddedIDs.isEmpty, let notifier = stages.notifier {
                try await notifier.embeddingsReady(EmbeddingsReady(
                    productIDs: embeddedIDs, modelVersion: stages.embedder.modelVersion,
                    batchID: batchIdentifier(batch), timestamp: wallClockMillis()))
            }
            try await stages.source.acknowledge(batch.commitToken)
            if !fresh.isEmpty, let cache = stages.queryCache { try? await cache.invalidateAll() }

            let done = monotonicNanos()
            state.withLock { s in
                s.stats.batches += 1
                s.stats.eventsTotal += Int64(batch.records.count)
                s.stats.eventsValid += Int64(accepted.count)
                s.stats.eventsRejected += Int64(rejected.count)
                s.stats.eventsDeduplicated += Int64(accepted.count - fresh.count)
                s.stats.eventsStored += Int64(fresh.count)
                s.stats.productsEmbedded += Int64(embeddedIDs.count - cacheHits)
                s.stats.embeddingCacheHits += Int64(cacheHits)
                s.dedupNanos += dedupNanos
                s.lastBatchEmbedded = embeddedIDs.count
                for event in accepted { s.latency.record(nanos: done &- min(done, event.arrivalNanos)) }
            }
            metrics.eventsIn.increment(by: batch.records.count)
            metrics.valid.increment(by: accepted.count)
            metrics.rejected.increment(by: rejected.count)
            metrics.deduplicated.increment(by: accepted.count - fresh.count)
            metrics.stored.increment(by: fresh.count)
            metrics.embedded.increment(by: embeddedIDs.count - cacheHits)
            for event in accepted {
                metrics.endToEnd.recordNanoseconds(Int64(done &- min(done, event.arrivalNanos)))
            }
            metrics.batch.recordInterval(since: batchStart)
        } catch {
            // Give the claims back so the retry (or another worker) processes them; nothing was acknowledged.
            if !claimedEventKeys.isEmpty { try? await stages.dedup.release(claimedEventKeys, in: .event) }
            if !claimedTextKeys.isEmpty { try? await stages.dedup.release(claimedTextKeys, in: .productText) }
            throw error
        }
    }

    /// Returns the ids of products upserted, the text claims taken, and how many vectors came from the cache.
    ///
    /// A product is (re)written when its record is new: its text (then embedded, unless the cache has the
    /// vector) or only its price (the vector then comes from the cache, so the payload never goes stale).
    private func embedNewProducts(in events: [AcceptedEvent]) async throws -> ([String], [String], Int) {
        let modelVersion = stages.embedder.modelVersion
        // Each product's state as of its last event in the batch, hashed only where it differs from the known one
        // (comparing the fields is far cheaper than hashing them).
        var last: [String: Product] = [:]
        for accepted in events { last[accepted.event.product.id] = accepted.event.product }
        var latest: [String: (product: Product, textHash: String, record: String)] = [:]
        let known = state.withLock { $0.knownProducts }
        for (id, product) in last where known[id]?.sameRecord(as: product) != true {
            let textHash = ContentHash.productText(product, modelVersion: modelVersion)
            latest[id] = (product, textHash, ContentHash.productRecord(textHash: textHash, product: product))
        }
        guard !latest.isEmpty else { return ([], [], 0) }

        // Already stored under the same hash (a restart, another worker)?
        let stored = try await stages.vectors.contentHashes(forProducts: Array(latest.keys))
        var learned: [String: KnownProduct] = [:]
        for (id, entry) in stored where latest[id]?.record == entry.contentHash && entry.modelVersion == modelVersion {
            learned[id] = KnownProduct(latest[id]!.product, record: entry.contentHash)
            latest[id] = nil
        }
        if !learned.isEmpty { state.withLock { $0.knownProducts.merge(learned) { $1 } } }
        guard !latest.isEmpty else { return ([], [], 0) }

        // Claim the records: two workers never write the same one.
        let candidates = latest.sorted { $0.key < $1.key }
        let keys = candidates.map { "\($0.key):\($0.value.record)" }
        let won = try await stages.dedup.claim(keys, in: .productText)
        var todo: [(id: String, product: Product, textHash: String, record: String)] = []
        var claimedKeys: [String] = []
        for (index, entry) in candidates.enumerated() where won[index] {
            todo.append((entry.key, entry.value.product, entry.value.textHash, entry.value.record))
            claimedKeys.append(keys[index])
        }
        guard !todo.isEmpty else { return ([], [], 0) }
        do {
            var vectors = [[Float]?](repeating: nil, count: todo.count)
            var cacheHits = 0
            if let cache = stages.embeddingCache {
                vectors = try await cache.vectors(for: todo.map(\.textHash))
                cacheHits = vectors.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
            }
            let missing = vectors.indices.filter { vectors[$0] == nil }
            if !missing.isEmpty {
                let computed = try await stages.embedder.embed(missing.map { todo[$0].product.embeddingText })
                for (slot, vector) in zip(missing, computed) { vectors[slot] = vector }
                if let cache = stages.embeddingCache {
                    var fresh: [String: [Float]] = [:]
                    for (slot, vector) in zip(missing, computed) { fresh[todo[slot].textHash] = vector }
                    try await cache.store(fresh)
                }
            }
            let now = wallClockMillis()
            let records = todo.indices.map { i in
                ProductVector(productID: todo[i].id, vector: vectors[i]!, name: todo[i].product.name,
                              category: todo[i].product.category, price: todo[i].product.price,
                              modelVersion: modelVersion, contentHash: todo[i].record, updatedAt: now)
            }
            try await stages.vectors.upsert(records)
            state.withLock { s in
                for entry in todo { s.knownProducts[entry.id] = KnownProduct(entry.product, record: entry.record) }
            }
            return (todo.map(\.id), claimedKeys, cacheHits)
        } catch {
            try? await stages.dedup.release(claimedKeys, in: .productText)
            throw error
        }
    }

    private func batchIdentifier(_ batch: RecordBatch) -> String {
        guard let first = batch.records.first?.position else { return "empty" }
        return "\(first.topic)-\(first.partition)-\(first.offset)-\(batch.records.count)"
    }

    private func publishLiveState() async {
        guard let live = stages.liveState else { return }
        do {
            try await live.publish(worker: configuration.workerID, stats: stats)
        } catch {
            logger.debug("live state not published", metadata: ["error": "\(error)"])
        }
    }
}

/// A product whose vector is stored, remembered by the text it was embedded from.
struct KnownProduct: Sendable {
    var name: String
    var description: String
    var category: String
    var price: Double
    /// `ContentHash.productRecord` of these fields.
    var record: String

    init(_ product: Product, record: String) {
        name = product.name
        description = product.description
        category = product.category
        price = product.price
        self.record = record
    }

    func sameRecord(as p: Product) -> Bool {
        p.price == price && p.name == name && p.category == category && p.description == description
    }
}

/// The engine's swift-metrics instruments; the Prometheus endpoint exports them.
struct EngineMetrics: Sendable {
    let eventsIn = Counter(label: "vectorstream_events_in_total")
    let valid = Counter(label: "vectorstream_events_valid_total")
    let rejected = Counter(label: "vectorstream_events_rejected_total")
    let deduplicated = Counter(label: "vectorstream_events_deduplicated_total")
    let stored = Counter(label: "vectorstream_events_stored_total")
    let embedded = Counter(label: "vectorstream_products_embedded_total")
    let retries = Counter(label: "vectorstream_batch_retries_total")
    let batchSize = Recorder(label: "vectorstream_batch_size", aggregate: true)
    let parse = Timer(label: "vectorstream_stage_duration_seconds", dimensions: [("stage", "parse")])
    let dedup = Timer(label: "vectorstream_stage_duration_seconds", dimensions: [("stage", "dedup")])
    let embed = Timer(label: "vectorstream_stage_duration_seconds", dimensions: [("stage", "embed")])
    let store = Timer(label: "vectorstream_stage_duration_seconds", dimensions: [("stage", "store")])
    let batch = Timer(label: "vectorstream_batch_duration_seconds")
    let endToEnd = Timer(label: "vectorstream_end_to_end_latency_seconds")
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let d = start.duration(to: .now)
        recordNanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }
}
