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
    /// How often a batch asks again for keys another worker holds (first wait; doubles up to 2 s). The wait ends
    /// when the holder confirms (then the keys are skipped) or its lease runs out (then this worker does the work).
    public var claimRetryInterval: Duration = .milliseconds(250)
    /// Attempts of one batch that fail with a permanent error (one retrying cannot heal, e.g. a message the
    /// broker refuses) before the engine stops with `EngineError.permanentFailure`. Transient errors (an outage)
    /// are retried with backoff for as long as they last.
    public var maxPermanentFailureAttempts: Int = 5

    public init() {}
}

/// Whether retrying the same work can succeed. Errors that know say so; any other error counts as transient.
public enum FailureClass: Sendable, Hashable {
    /// An outage, a timeout, a lost connection: retrying later can work.
    case transient
    /// The same request will fail the same way (refused as too large, malformed, not authorised).
    case permanent
}

/// An error that knows whether retrying can heal it.
public protocol ClassifiedError: Error {
    var failureClass: FailureClass { get }
}

/// Why the engine stopped without finishing its source.
public enum EngineError: Error, CustomStringConvertible, Sendable {
    /// A batch failed `attempts` times with an error retrying cannot heal; nothing of it was acknowledged.
    case permanentFailure(attempts: Int, batch: String, error: String)

    public var description: String {
        switch self {
        case .permanentFailure(let attempts, let batch, let error):
            "batch \(batch) failed \(attempts) times with an error that retrying cannot heal; stopping without "
                + "acknowledging it (it is read again after a fix): \(error)"
        }
    }
}

/// How one batch ended.
enum BatchOutcome: Sendable {
    /// Every sink stored it and the source acknowledged it.
    case stored
    /// A stop was requested before it could be stored; nothing of it was acknowledged.
    case abandoned
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
        /// When `run` returned: the run's rate is over its own span, not up to whenever the summary is read
        /// (services stopping after the engine, such as a last metrics flush, are not the pipeline's time).
        var finishedAt: ContinuousClock.Instant?
        var startedSecond: Int64?
        var steadyEvents: Int64 = 0
        var steadyNanos: UInt64 = 0
        var lastBatchEmbedded = 0
        var stopRequested = false
        var recent = RecentActivity()
        var lagByPartition: [String: Int64] = [:]
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
                let elapsed = started.duration(to: s.finishedAt ?? .now)
                stats.elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                stats.eventsPerSecond = stats.elapsedSeconds > 0 ? Double(stats.eventsTotal) / stats.elapsedSeconds : 0
            }
            stats.latencyP50Millis = s.latency.quantileMillis(0.5)
            stats.latencyP99Millis = s.latency.quantileMillis(0.99)
            stats.latencyMaxMillis = Double(s.latency.maxNanos) / 1e6
            stats.steadyEventsPerSecond = s.steadyNanos > 0 ? Double(s.steadyEvents) / (Double(s.steadyNanos) / 1e9) : 0
            stats.dedupMicrosPerEvent = stats.eventsValid > 0 ? Double(s.dedupNanos) / 1000 / Double(stats.eventsValid) : 0
            let now = Self.monotonicSecond()
            let window = recentWindowSeconds
            let rates = s.recent.rates(now: now, window: window, start: s.startedSecond ?? now)
            stats.recentWindowSeconds = Double(min(window, now - (s.startedSecond ?? now) + 1))
            stats.recentEventsPerSecond = rates.read
            stats.recentStoredPerSecond = rates.stored
            stats.recentRejectedPerSecond = rates.rejected
            let minute = s.recent.latency(now: now)
            stats.recentLatencyP50Millis = minute.quantileMillis(0.5)
            stats.recentLatencyP99Millis = minute.quantileMillis(0.99)
            for (stage, histogram) in s.recent.stageLatency(now: now) {
                stats.recentStageMillis[stage.rawValue] = StageLatency(
                    p50Millis: histogram.quantileMillis(0.5), p99Millis: histogram.quantileMillis(0.99),
                    batches: histogram.count)
            }
            stats.lagByPartition = s.lagByPartition
            stats.updatedAt = wallClockMillis()
            return stats
        }
    }

    /// Seconds over which the `recent...` rates are taken: 10 s, or three trigger intervals when longer; at most 59.
    private var recentWindowSeconds: Int64 {
        let trigger = configuration.triggerInterval.components.seconds + 1
        return min(max(10, 3 * trigger), 59)
    }

    static func monotonicSecond() -> Int64 { Int64(monotonicNanos() / 1_000_000_000) }

    /// Asks the loop to stop after the batch in flight (graceful shutdown, `--until-idle`).
    public func requestStop() {
        state.withLock { $0.stopRequested = true }
    }

    private var stopRequested: Bool { state.withLock { $0.stopRequested } }

    /// Runs until the source is exhausted, `requestStop()`, cancellation, or (with `untilIdle`) the source has
    /// had nothing new for that long with nothing in flight.
    ///
    /// A stop request ends a poll at once (its records are not acknowledged, so they are read again) and lets
    /// a batch being stored finish; a batch that is waiting (retry backoff, another worker's claims) is abandoned
    /// unacknowledged. Throws `EngineError.permanentFailure` when a batch cannot be stored.
    ///
    /// - Parameters:
    ///   - untilIdle: stop once polls have returned nothing for this long since the last batch was stored.
    ///   - isCaughtUp: asked before an idle stop (e.g. "this worker has joined its group"); nil means yes.
    public func run(untilIdle: Duration? = nil, isCaughtUp: (@Sendable () async -> Bool)? = nil) async throws {
        state.withLock {
            $0.startedAt = $0.startedAt ?? .now
            $0.startedSecond = $0.startedSecond ?? Self.monotonicSecond()
            $0.finishedAt = nil
        }
        defer { state.withLock { $0.finishedAt = .now } }
        var idleSince = ContinuousClock.now
        while !Task.isCancelled && !stopRequested {
            let iterationStart = monotonicNanos()
            let deadline = ContinuousClock.now.advanced(by: configuration.triggerInterval)
            guard case .batch(let batch) = try await pollUnlessStopped(deadline: deadline) else { break }
            if batch.records.isEmpty {
                await publishLiveState()
                if let untilIdle, idleSince.duration(to: .now) >= untilIdle, await isCaughtUp?() ?? true {
                    logger.info("source idle; stopping", metadata: ["idle": "\(untilIdle)"])
                    break
                }
                continue
            }
            guard try await processWithRetry(batch) == .stored else { break }
            idleSince = .now
            let iterationNanos = monotonicNanos() &- iterationStart
            state.withLock { s in
                if s.lastBatchEmbedded == 0 {
                    s.steadyEvents += Int64(batch.records.count)
                    s.steadyNanos += iterationNanos
                }
            }
            let lags = await stages.source.lag()
            for (partition, lag) in lags {
                Gauge(label: "vectorstream_consumer_lag", dimensions: [("topic", partition.topic),
                                                                       ("partition", String(partition.partition))])
                    .record(lag)
            }
            state.withLock { s in
                s.lagByPartition = Dictionary(uniqueKeysWithValues: lags.map { ($0.key.description, $0.value) })
            }
            await publishLiveState()
        }
        await publishLiveState()
    }

    private enum PollResult: Sendable {
        case batch(RecordBatch)
        case exhausted
        case stopped
    }

    /// The source's next batch, unless a stop is requested first: then the poll is cancelled and its records
    /// dropped unacknowledged (a Kafka poll waits up to the trigger interval; shutdown should not).
    private func pollUnlessStopped(deadline: ContinuousClock.Instant) async throws -> PollResult {
        try await withThrowingTaskGroup(of: PollResult.self) { group in
            group.addTask { [stages, configuration] in
                guard let batch = try await stages.source.nextBatch(maxRecords: configuration.maxEventsPerTrigger,
                                                                    deadline: deadline)
                else { return .exhausted }
                return .batch(batch)
            }
            group.addTask { [self] in
                while !stopRequested && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
                return .stopped
            }
            defer { group.cancelAll() }
            let first = try await group.next() ?? .stopped
            if case .batch = first, stopRequested || Task.isCancelled { return .stopped }
            return first
        }
    }

    /// Sleeps in short steps; false when a stop was requested (or the task cancelled) before the time was up.
    private func sleepUnlessStopped(for duration: Duration) async -> Bool {
        let end = ContinuousClock.now.advanced(by: duration)
        while ContinuousClock.now < end {
            if stopRequested || Task.isCancelled { return false }
            try? await Task.sleep(for: min(.milliseconds(50), ContinuousClock.now.duration(to: end)))
        }
        return !(stopRequested || Task.isCancelled)
    }

    private func processWithRetry(_ batch: RecordBatch) async throws -> BatchOutcome {
        var backoff = configuration.retryInitialBackoff
        var attempt = 0
        var permanentAttempts = 0
        // Rejections are final: once stored, a retry of the batch (a later stage failed) does not send them again.
        var deadLettersStored = false
        while true {
            do {
                return try await process(batch, deadLettersStored: &deadLettersStored)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                attempt += 1
                let failureClass = (error as? any ClassifiedError)?.failureClass ?? .transient
                state.withLock { $0.stats.batchRetries += 1 }
                metrics.retries.increment()
                if failureClass == .permanent {
                    permanentAttempts += 1
                    if permanentAttempts >= max(configuration.maxPermanentFailureAttempts, 1) {
                        metrics.permanentFailures.increment()
                        let failure = EngineError.permanentFailure(attempts: permanentAttempts,
                                                                   batch: batchIdentifier(batch), error: "\(error)")
                        logger.critical("\(failure)")
                        throw failure
                    }
                }
                logger.warning("batch failed; retrying", metadata: [
                    "attempt": "\(attempt)", "backoff": "\(backoff)", "error": "\(error)",
                    "failure": "\(failureClass)",
                ])
                guard await sleepUnlessStopped(for: backoff) else {
                    logger.notice("stop requested while a failed batch waited for its retry; not acknowledged")
                    return .abandoned
                }
                backoff = min(backoff * 2, configuration.retryMaxBackoff)
            }
        }
    }

    /// One batch through every stage. Throws without acknowledging when any stage fails; `.abandoned` when a
    /// stop was requested while it waited for another worker's claims.
    func process(_ batch: RecordBatch, deadLettersStored: inout Bool) async throws -> BatchOutcome {
        try await processCounting(batch, deadLettersStored: &deadLettersStored).outcome
    }

    /// `process`, with what the batch did (`MicroBatchEngine+Ingest.swift` answers with it). Without `acknowledge`
    /// the source is not told (an ingested batch has no position in it to commit).
    func processCounting(_ batch: RecordBatch, deadLettersStored: inout Bool,
                         acknowledge: Bool = true) async throws -> (outcome: BatchOutcome, counts: BatchCounts) {
        let batchStart = ContinuousClock.now
        metrics.batchSize.record(batch.records.count)
        var times = StageTimes()

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
        times.add(.parse, since: batchStart)
        if !deadLettersStored {
            let deadLetterStart = ContinuousClock.now
            if !rejected.isEmpty { try await stages.deadLetters.store(rejected) }
            if !rejected.isEmpty { times.add(.deadLetters, since: deadLetterStart) }
            deadLettersStored = true
            // Counted when stored, so the figures agree with the dead-letter store even if the batch never ends.
            state.withLock {
                $0.stats.eventsRejected += Int64(rejected.count)
                $0.recent.add(at: Self.monotonicSecond(), rejected: Int64(rejected.count))
            }
            metrics.rejected.increment(by: rejected.count)
        }

        // Dedup events: first within the batch, then against everything already processed.
        var seenInBatch = Set<String>(minimumCapacity: accepted.count)
        var unique: [AcceptedEvent] = []
        unique.reserveCapacity(accepted.count)
        for event in accepted where seenInBatch.insert(event.event.eventID).inserted { unique.append(event) }

        // In rounds: claim, then store and confirm what was won; events another claimant holds are asked for
        // again after a pause, until each is done (the holder stored it) or won (its lease ran out: a crashed
        // worker's events are redone here). Nothing won is held while waiting, so two workers waiting on each
        // other's keys never deadlock; the batch is acknowledged only when no key is left unresolved.
        var pending = unique
        var fresh: [AcceptedEvent] = []
        fresh.reserveCapacity(unique.count)
        var embeddedIDs: [String] = []
        var cacheHits = 0
        var dedupNanos: UInt64 = 0
        var interval = configuration.claimRetryInterval
        var round = 0
        while !pending.isEmpty {
            let dedupStart = ContinuousClock.now
            let outcomes = try await stages.dedup.claim(pending.map(\.event.eventID), in: .event)
            var won: [AcceptedEvent] = []
            won.reserveCapacity(pending.count)
            var held: [AcceptedEvent] = []
            for (event, outcome) in zip(pending, outcomes) {
                switch outcome {
                case .won: won.append(event)
                case .done: break
                case .heldElsewhere: held.append(event)
                }
            }
            let dedupElapsed = dedupStart.duration(to: .now)
            dedupNanos += UInt64(dedupElapsed.components.seconds) * 1_000_000_000
                + UInt64(dedupElapsed.components.attoseconds / 1_000_000_000)
            times.add(.dedup, since: dedupStart)

            if !won.isEmpty {
                let wonKeys = won.map(\.event.eventID)
                do {
                    // Embed only products whose record is new, and upsert one vector per product.
                    guard let (ids, hits) = try await embedNewProducts(in: won, times: &times) else {
                        try? await stages.dedup.release(wonKeys, in: .event)
                        return (.abandoned, BatchCounts(rejected: rejected))
                    }
                    embeddedIDs += ids
                    cacheHits += hits

                    // Store events (idempotent), then mark them done for every worker.
                    let storeStart = ContinuousClock.now
                    try await stages.events.store(won)
                    times.add(.store, since: storeStart)
                    let confirmStart = ContinuousClock.now
                    try await stages.dedup.confirm(wonKeys, in: .event)
                    times.add(.dedup, since: confirmStart)
                } catch {
                    // Give the claims back so the retry (or another worker) processes them; nothing was acknowledged.
                    try? await stages.dedup.release(wonKeys, in: .event)
                    throw error
                }
                fresh += won
            }
            pending = held
            guard !pending.isEmpty else { break }
            if round == 0 {
                state.withLock { $0.stats.eventsWaitedForClaims += Int64(held.count) }
                logger.info("events held by another claimant; waiting for it to confirm or for its lease to run out",
                            metadata: ["events": "\(held.count)"])
            }
            round += 1
            guard await sleepUnlessStopped(for: interval) else { return (.abandoned, BatchCounts(rejected: rejected)) }
            interval = min(interval * 2, .seconds(2))
        }

        let acknowledgeStart = ContinuousClock.now
        if !embeddedIDs.isEmpty, let notifier = stages.notifier {
            try await notifier.embeddingsReady(EmbeddingsReady(
                productIDs: embeddedIDs, modelVersion: stages.embedder.modelVersion,
                batchID: batchIdentifier(batch), timestamp: wallClockMillis()))
        }
        if acknowledge { try await stages.source.acknowledge(batch.commitToken) }
        if !fresh.isEmpty, let cache = stages.queryCache { try? await cache.invalidateAll() }
        times.add(.acknowledge, since: acknowledgeStart)

        let done = monotonicNanos()
        state.withLock { s in
            s.stats.batches += 1
            s.stats.eventsTotal += Int64(batch.records.count)
            s.stats.eventsValid += Int64(accepted.count)
            s.stats.eventsDeduplicated += Int64(accepted.count - fresh.count)
            s.stats.eventsStored += Int64(fresh.count)
            s.stats.productsEmbedded += Int64(embeddedIDs.count - cacheHits)
            s.stats.embeddingCacheHits += Int64(cacheHits)
            s.dedupNanos += dedupNanos
            s.lastBatchEmbedded = embeddedIDs.count
            let second = Int64(done / 1_000_000_000)
            s.recent.add(at: second, read: Int64(batch.records.count), stored: Int64(fresh.count))
            for (k, stage) in PipelineStage.allCases.enumerated() where times.ran[k] {
                s.recent.addStage(stage, at: second, nanos: times.nanos[k])
            }
            for event in accepted {
                let nanos = done &- min(done, event.arrivalNanos)
                s.latency.record(nanos: nanos)
                s.recent.addLatency(at: second, nanos: nanos)
            }
        }
        metrics.eventsIn.increment(by: batch.records.count)
        metrics.valid.increment(by: accepted.count)
        metrics.deduplicated.increment(by: accepted.count - fresh.count)
        metrics.stored.increment(by: fresh.count)
        metrics.embedded.increment(by: embeddedIDs.count - cacheHits)
        for event in accepted {
            metrics.endToEnd.recordNanoseconds(Int64(done &- min(done, event.arrivalNanos)))
        }
        for (k, stage) in PipelineStage.allCases.enumerated() where times.ran[k] {
            metrics.stages[stage]?.recordNanoseconds(Int64(times.nanos[k]))
        }
        metrics.batch.recordInterval(since: batchStart)
        return (.stored, BatchCounts(accepted: accepted.count, rejected: rejected,
                                     deduplicated: accepted.count - fresh.count, stored: fresh.count,
                                     productsEmbedded: embeddedIDs.count - cacheHits, embeddingCacheHits: cacheHits))
    }

    /// Returns the ids of products upserted and how many vectors came from the cache; nil when a stop was
    /// requested while another worker held some of the product records.
    ///
    /// A product is (re)written when its record is new: its text (then embedded, unless the cache has the
    /// vector) or only its price (the vector then comes from the cache, so the payload never goes stale).
    /// Record claims only keep two workers off the same record: each is released as soon as its vector is
    /// upserted (the store then answers for it), never marked done, so a product can return to an earlier text
    /// or price (a sale that ends), and a worker never holds a record claim while it waits.
    private func embedNewProducts(in events: [AcceptedEvent], times: inout StageTimes) async throws -> ([String], Int)? {
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

        var upserted: [String] = []
        var cacheHits = 0
        var interval = configuration.claimRetryInterval
        // Records another worker holds are asked for again (it stores them, or its lease runs out and this
        // worker does): a product whose writer crashed must not stay without its vector.
        while !latest.isEmpty {
            // Already stored under the same hash (a restart, another worker)?
            let lookupStart = ContinuousClock.now
            let stored = try await stages.vectors.contentHashes(forProducts: Array(latest.keys))
            times.add(.upsert, since: lookupStart)
            var learned: [String: KnownProduct] = [:]
            for (id, entry) in stored where latest[id]?.record == entry.contentHash && entry.modelVersion == modelVersion {
                learned[id] = KnownProduct(latest[id]!.product, record: entry.contentHash)
                latest[id] = nil
            }
            if !learned.isEmpty { state.withLock { $0.knownProducts.merge(learned) { $1 } } }
            guard !latest.isEmpty else { break }

            // Claim the records: two workers never write the same one.
            let candidates = latest.sorted { $0.key < $1.key }
            // Keyed by product, not by record: two workers holding different records of one product (a price
            // change) must not write it at once either (Milvus 2.3's v1 upsert is query-delete-insert).
            let keys = candidates.map(\.key)
            let claimStart = ContinuousClock.now
            let outcomes = try await stages.dedup.claim(keys, in: .productText)
            times.add(.dedup, since: claimStart)
            var todo: [(id: String, product: Product, textHash: String, record: String)] = []
            var won: [String] = []
            for (index, entry) in candidates.enumerated() {
                switch outcomes[index] {
                case .won:
                    todo.append((entry.key, entry.value.product, entry.value.textHash, entry.value.record))
                    won.append(keys[index])
                    latest[entry.key] = nil
                case .done:
                    latest[entry.key] = nil
                case .heldElsewhere:
                    break
                }
            }
            if !todo.isEmpty {
                do {
                    cacheHits += try await writeVectors(todo, modelVersion: modelVersion, times: &times)
                } catch {
                    try? await stages.dedup.release(won, in: .productText)
                    throw error
                }
                let releaseStart = ContinuousClock.now
                try await stages.dedup.release(won, in: .productText)
                times.add(.dedup, since: releaseStart)
                upserted += todo.map(\.id)
            }
            guard !latest.isEmpty else { break }
            guard await sleepUnlessStopped(for: interval) else { return nil }
            interval = min(interval * 2, .seconds(2))
        }
        return (upserted, cacheHits)
    }

    /// Embeds (or takes from the cache) and upserts the claimed product records; returns the cache hits.
    private func writeVectors(_ todo: [(id: String, product: Product, textHash: String, record: String)],
                              modelVersion: String, times: inout StageTimes) async throws -> Int {
        let embedStart = ContinuousClock.now
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
        times.add(.embed, since: embedStart)
        let upsertStart = ContinuousClock.now
        let now = wallClockMillis()
        let records = todo.indices.map { i in
            ProductVector(productID: todo[i].id, vector: vectors[i]!, name: todo[i].product.name,
                          category: todo[i].product.category, price: todo[i].product.price,
                          modelVersion: modelVersion, contentHash: todo[i].record, updatedAt: now)
        }
        try await stages.vectors.upsert(records)
        times.add(.upsert, since: upsertStart)
        state.withLock { s in
            for entry in todo { s.knownProducts[entry.id] = KnownProduct(entry.product, record: entry.record) }
        }
        return cacheHits
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

/// Time spent per stage in one batch (a stage may run in several rounds: claims waited for).
struct StageTimes: Sendable {
    var nanos = [UInt64](repeating: 0, count: PipelineStage.allCases.count)
    var ran = [Bool](repeating: false, count: PipelineStage.allCases.count)

    mutating func add(_ stage: PipelineStage, since start: ContinuousClock.Instant) {
        let d = start.duration(to: .now)
        let k = PipelineStage.allCases.firstIndex(of: stage)!
        nanos[k] += UInt64(d.components.seconds) * 1_000_000_000 + UInt64(d.components.attoseconds / 1_000_000_000)
        ran[k] = true
    }

    func nanos(_ stage: PipelineStage) -> UInt64 { nanos[PipelineStage.allCases.firstIndex(of: stage)!] }
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
    let permanentFailures = Counter(label: "vectorstream_batch_permanent_failures_total")
    let batchSize = Recorder(label: "vectorstream_batch_size", aggregate: true)
    /// One timer per stage, as `vectorstream_stage_duration_seconds{stage=...}`.
    let stages: [PipelineStage: Timer] = Dictionary(uniqueKeysWithValues: PipelineStage.allCases.map {
        ($0, Timer(label: "vectorstream_stage_duration_seconds", dimensions: [("stage", $0.rawValue)]))
    })
    let batch = Timer(label: "vectorstream_batch_duration_seconds")
    let endToEnd = Timer(label: "vectorstream_end_to_end_latency_seconds")
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let d = start.duration(to: .now)
        recordNanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }
}
