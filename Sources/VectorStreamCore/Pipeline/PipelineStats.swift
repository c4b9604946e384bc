/// The running totals of one worker, as published to live state and printed by `demo --json`.
public struct PipelineStats: Sendable, Hashable, Codable {
    public var eventsTotal: Int64 = 0
    public var eventsValid: Int64 = 0
    public var eventsRejected: Int64 = 0
    public var eventsDeduplicated: Int64 = 0
    public var eventsStored: Int64 = 0
    public var productsEmbedded: Int64 = 0
    public var embeddingCacheHits: Int64 = 0
    public var batches: Int64 = 0
    public var batchRetries: Int64 = 0
    /// Events a batch found claimed by another worker (alive, or crashed with its lease running) and waited for.
    public var eventsWaitedForClaims: Int64 = 0
    public var elapsedSeconds: Double = 0
    public var eventsPerSecond: Double = 0
    /// Events/s over batches that embedded nothing: the rate once the catalog is embedded.
    public var steadyEventsPerSecond: Double = 0
    public var latencyP50Millis: Double = 0
    public var latencyP99Millis: Double = 0
    public var latencyMaxMillis: Double = 0
    /// Amortised time spent in the dedup stage per event.
    public var dedupMicrosPerEvent: Double = 0
    /// The window the `recent...` figures cover: at least 10 s and three trigger intervals, at most 60 s (a rate
    /// over one trigger interval reads 0 or double, since counters move once per batch).
    public var recentWindowSeconds: Double = 0
    /// Records read, stored and rejected per second over the recent window.
    public var recentEventsPerSecond: Double = 0
    public var recentStoredPerSecond: Double = 0
    public var recentRejectedPerSecond: Double = 0
    /// End-to-end latency over the last minute (the since-start figures keep a cold start's forever).
    public var recentLatencyP50Millis: Double = 0
    public var recentLatencyP99Millis: Double = 0
    /// Time each stage took per batch over the last minute, by `PipelineStage` name.
    public var recentStageMillis: [String: StageLatency] = [:]
    /// Messages not yet committed, per partition this worker owns ("topic[partition]"), after its last batch.
    public var lagByPartition: [String: Int64] = [:]
    public var updatedAt: EpochMillis = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case eventsTotal = "events_total"
        case eventsValid = "events_valid"
        case eventsRejected = "events_rejected"
        case eventsDeduplicated = "events_deduplicated"
        case eventsStored = "events_stored"
        case productsEmbedded = "products_embedded"
        case embeddingCacheHits = "embedding_cache_hits"
        case batches
        case batchRetries = "batch_retries"
        case eventsWaitedForClaims = "events_waited_for_claims"
        case elapsedSeconds = "elapsed_seconds"
        case eventsPerSecond = "events_per_second"
        case steadyEventsPerSecond = "events_per_second_steady"
        case latencyP50Millis = "latency_p50_ms"
        case latencyP99Millis = "latency_p99_ms"
        case latencyMaxMillis = "latency_max_ms"
        case dedupMicrosPerEvent = "dedup_us_per_event"
        case recentWindowSeconds = "recent_window_seconds"
        case recentEventsPerSecond = "recent_events_per_second"
        case recentStoredPerSecond = "recent_stored_per_second"
        case recentRejectedPerSecond = "recent_rejected_per_second"
        case recentLatencyP50Millis = "recent_latency_p50_ms"
        case recentLatencyP99Millis = "recent_latency_p99_ms"
        case recentStageMillis = "recent_stage_ms"
        case lagByPartition = "lag_by_partition"
        case updatedAt = "updated_at"
    }

    /// Tolerates missing keys, so a worker reads the live state of older and newer workers alike.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func int(_ key: CodingKeys) throws -> Int64 { try c.decodeIfPresent(Int64.self, forKey: key) ?? 0 }
        func double(_ key: CodingKeys) throws -> Double { try c.decodeIfPresent(Double.self, forKey: key) ?? 0 }
        eventsTotal = try int(.eventsTotal)
        eventsValid = try int(.eventsValid)
        eventsRejected = try int(.eventsRejected)
        eventsDeduplicated = try int(.eventsDeduplicated)
        eventsStored = try int(.eventsStored)
        productsEmbedded = try int(.productsEmbedded)
        embeddingCacheHits = try int(.embeddingCacheHits)
        batches = try int(.batches)
        batchRetries = try int(.batchRetries)
        eventsWaitedForClaims = try int(.eventsWaitedForClaims)
        elapsedSeconds = try double(.elapsedSeconds)
        eventsPerSecond = try double(.eventsPerSecond)
        steadyEventsPerSecond = try double(.steadyEventsPerSecond)
        latencyP50Millis = try double(.latencyP50Millis)
        latencyP99Millis = try double(.latencyP99Millis)
        latencyMaxMillis = try double(.latencyMaxMillis)
        dedupMicrosPerEvent = try double(.dedupMicrosPerEvent)
        recentWindowSeconds = try double(.recentWindowSeconds)
        recentEventsPerSecond = try double(.recentEventsPerSecond)
        recentStoredPerSecond = try double(.recentStoredPerSecond)
        recentRejectedPerSecond = try double(.recentRejectedPerSecond)
        recentLatencyP50Millis = try double(.recentLatencyP50Millis)
        recentLatencyP99Millis = try double(.recentLatencyP99Millis)
        recentStageMillis = try c.decodeIfPresent([String: StageLatency].self, forKey: .recentStageMillis) ?? [:]
        lagByPartition = try c.decodeIfPresent([String: Int64].self, forKey: .lagByPartition) ?? [:]
        updatedAt = try int(.updatedAt)
    }
}

/// The stages a batch passes through, as measured and reported (metrics label `stage`, /status).
public enum PipelineStage: String, CaseIterable, Sendable, Hashable, Codable {
    case parse
    case deadLetters = "dead_letters"
    case dedup
    case embed
    case upsert
    case store
    case acknowledge
}

/// A stage's time per batch over the last minute.
public struct StageLatency: Sendable, Hashable, Codable {
    public var p50Millis: Double
    public var p99Millis: Double
    public var batches: Int64

    public init(p50Millis: Double, p99Millis: Double, batches: Int64) {
        self.p50Millis = p50Millis
        self.p99Millis = p99Millis
        self.batches = batches
    }

    enum CodingKeys: String, CodingKey {
        case p50Millis = "p50_ms"
        case p99Millis = "p99_ms"
        case batches
    }
}

/// A fixed-size log-linear latency histogram: bounded memory whatever the event count.
public struct LatencyHistogram: Sendable {
    // Buckets of 1/32 octave resolution (~2%) from 1 µs to ~1.2 h.
    private static let subBuckets = 32
    private static let octaves = 32
    private var counts = [Int64](repeating: 0, count: subBuckets * octaves)
    public private(set) var count: Int64 = 0
    public private(set) var maxNanos: UInt64 = 0

    public init() {}

    public mutating func record(nanos: UInt64) {
        let micros = max(nanos / 1000, 1)
        let octave = 63 - micros.leadingZeroBitCount
        let fraction: Int
        if octave >= 5 {
            fraction = Int((micros >> UInt64(octave - 5)) & 31)
        } else {
            fraction = Int((micros << UInt64(5 - octave)) & 31)
        }
        let index = min(octave * Self.subBuckets + fraction, counts.count - 1)
        counts[index] += 1
        count += 1
        maxNanos = max(maxNanos, nanos)
    }

    /// Adds another histogram's samples (windows merged from their slots).
    public mutating func merge(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        for i in counts.indices { counts[i] += other.counts[i] }
        count += other.count
        maxNanos = max(maxNanos, other.maxNanos)
    }

    /// The value (in milliseconds) below which `quantile` of the samples lie.
    public func quantileMillis(_ quantile: Double) -> Double {
        guard count > 0 else { return 0 }
        let target = Int64((Double(count) * quantile).rounded(.up))
        var seen: Int64 = 0
        for (index, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= target {
                let octave = index / Self.subBuckets
                let fraction = index % Self.subBuckets
                let micros = Double(UInt64(1) << UInt64(octave)) * (1 + Double(fraction + 1) / Double(Self.subBuckets))
                return min(micros / 1000, Double(maxNanos) / 1e6)
            }
        }
        return Double(maxNanos) / 1e6
    }
}

/// What happened in the last minute, by second: rates over a window and latency over the minute, so figures
/// neither jump with each batch nor carry a cold start forever. Bounded: 60 seconds and 7 ten-second slots.
public struct RecentActivity: Sendable {
    struct Second: Sendable {
        var epoch: Int64 = -1
        var read: Int64 = 0
        var stored: Int64 = 0
        var rejected: Int64 = 0
    }
    struct Slot: Sendable {
        var epoch: Int64 = -1
        var latency = LatencyHistogram()
    }

    private var seconds = [Second](repeating: Second(), count: 60)
    private var slots = [Slot](repeating: Slot(), count: 7)
    private var stageSlots = [[Slot]](repeating: [Slot](repeating: Slot(), count: 7), count: PipelineStage.allCases.count)

    public init() {}

    /// Adds to the second `now` (seconds on a monotonic clock).
    public mutating func add(at now: Int64, read: Int64 = 0, stored: Int64 = 0, rejected: Int64 = 0) {
        let i = Int(now % 60)
        if seconds[i].epoch != now { seconds[i] = Second(epoch: now) }
        seconds[i].read += read
        seconds[i].stored += stored
        seconds[i].rejected += rejected
    }

    /// Records one end-to-end latency in the ten-second slot of `now`.
    public mutating func addLatency(at now: Int64, nanos: UInt64) {
        let slot = now / 10
        let i = Int(slot % 7)
        if slots[i].epoch != slot { slots[i] = Slot(epoch: slot) }
        slots[i].latency.record(nanos: nanos)
    }

    /// Records the time one stage took for one batch.
    public mutating func addStage(_ stage: PipelineStage, at now: Int64, nanos: UInt64) {
        let k = PipelineStage.allCases.firstIndex(of: stage)!
        let slot = now / 10
        let i = Int(slot % 7)
        if stageSlots[k][i].epoch != slot { stageSlots[k][i] = Slot(epoch: slot) }
        stageSlots[k][i].latency.record(nanos: nanos)
    }

    /// Each stage's time per batch in the last minute (stages with no batch are left out).
    public func stageLatency(now: Int64) -> [PipelineStage: LatencyHistogram] {
        let current = now / 10
        var out: [PipelineStage: LatencyHistogram] = [:]
        for (k, stage) in PipelineStage.allCases.enumerated() {
            var merged = LatencyHistogram()
            for slot in stageSlots[k] where slot.epoch >= current - 6 && slot.epoch <= current { merged.merge(slot.latency) }
            if merged.count > 0 { out[stage] = merged }
        }
        return out
    }

    /// Per-second rates of (read, stored, rejected) over the `window` seconds up to and including `now`, or
    /// since `start` when that is more recent.
    public func rates(now: Int64, window: Int64, start: Int64) -> (read: Double, stored: Double, rejected: Double) {
        let window = min(max(window, 1), 59)
        let from = max(now - window + 1, start)
        let span = Double(max(now - from + 1, 1))
        var read: Int64 = 0, stored: Int64 = 0, rejected: Int64 = 0
        for s in seconds where s.epoch >= from && s.epoch <= now {
            read += s.read
            stored += s.stored
            rejected += s.rejected
        }
        return (Double(read) / span, Double(stored) / span, Double(rejected) / span)
    }

    /// The latencies recorded in the last minute (six full ten-second slots and the current one).
    public func latency(now: Int64) -> LatencyHistogram {
        var merged = LatencyHistogram()
        let current = now / 10
        for slot in slots where slot.epoch >= current - 6 && slot.epoch <= current { merged.merge(slot.latency) }
        return merged
    }
}
