import VectorStreamCore
import VectorStreamServer

/// One value of one series at one time, as stored in `vectorstream_metric_points`.
///
/// A counter's point holds its increase over the `spanMillis` before `at` (so the points of a series add up to
/// the counter, and a lost point is a visible gap rather than a wrong rate); a gauge's point holds its value at
/// `at` and a span of 0.
public struct MetricPoint: Sendable, Hashable {
    public var at: EpochMillis
    public var worker: String
    public var metric: String
    /// The one label of the series (a stage, a partition, a reason, a dependency), or "" for none.
    public var label: String
    public var value: Double
    public var spanMillis: Int64

    public init(at: EpochMillis, worker: String, metric: String, label: String = "", value: Double, spanMillis: Int64 = 0) {
        self.at = at
        self.worker = worker
        self.metric = metric
        self.label = label
        self.value = value
        self.spanMillis = spanMillis
    }

    public var isCounter: Bool { spanMillis > 0 }
}

/// The series every worker writes (docs/metrics.md lists them with their units).
public enum MetricName {
    // Counters: increase over the point's span.
    public static let eventsIn = "events_in"
    public static let eventsValid = "events_valid"
    public static let eventsRejected = "events_rejected"
    public static let eventsDeduplicated = "events_deduplicated"
    public static let eventsStored = "events_stored"
    public static let productsEmbedded = "products_embedded"
    public static let batches = "batches"
    public static let batchRetries = "batch_retries"
    /// Label: the rejection's reason code.
    public static let deadLetters = "dead_letters"
    public static let pointsDropped = "metrics_points_dropped"
    // Gauges.
    /// Mean events per batch over the interval (written when a batch ran).
    public static let batchSize = "batch_size"
    /// End-to-end latency over the last minute, milliseconds (0: no event in that minute).
    public static let latencyP50 = "latency_p50_ms"
    public static let latencyP99 = "latency_p99_ms"
    /// Label: the stage. Time per batch over the last minute, milliseconds.
    public static let stageP50 = "stage_p50_ms"
    public static let stageP99 = "stage_p99_ms"
    /// Label "" is the worker's total; otherwise `topic[partition]`.
    public static let consumerLag = "consumer_lag"
    /// Label: the dependency. 1 ok, 0.5 degraded, 0 down.
    public static let dependencyUp = "dependency_up"

    /// The counter behind each history metric of the API (nil for a gauge).
    static func counter(for metric: HistoryMetric) -> String? {
        switch metric {
        case .eventsInPerSecond: eventsIn
        case .eventsStoredPerSecond: eventsStored
        case .eventsRejectedPerSecond: eventsRejected
        case .productsEmbeddedPerSecond: productsEmbedded
        case .latencyP50, .latencyP99, .consumerLag: nil
        }
    }
}

/// What a worker looks like at one moment, as the sampler reads it.
public struct MetricsObservation: Sendable {
    public var at: EpochMillis
    public var stats: PipelineStats
    /// Cumulative dead letters by reason code.
    public var deadLettersByReason: [String: Int64]
    public var dependencies: [String: DependencyHealth]
    /// Cumulative points this worker's buffer dropped.
    public var pointsDropped: Int64

    public init(at: EpochMillis, stats: PipelineStats, deadLettersByReason: [String: Int64] = [:],
                dependencies: [String: DependencyHealth] = [:], pointsDropped: Int64 = 0) {
        self.at = at
        self.stats = stats
        self.deadLettersByReason = deadLettersByReason
        self.dependencies = dependencies
        self.pointsDropped = pointsDropped
    }
}

/// Turns successive observations of one worker into points: counters as increases since the previous
/// observation, gauges as they are. The first observation is the baseline (a process starts at zero, so a
/// baseline of zeros at start makes the points of each counter add up to its total).
public struct MetricsSampler: Sendable {
    public let worker: String
    private var previous: MetricsObservation

    public init(worker: String, baseline: MetricsObservation) {
        self.worker = worker
        previous = baseline
    }

    static let counters: [(String, @Sendable (PipelineStats) -> Int64)] = [
        (MetricName.eventsIn, { $0.eventsTotal }), (MetricName.eventsValid, { $0.eventsValid }),
        (MetricName.eventsRejected, { $0.eventsRejected }), (MetricName.eventsDeduplicated, { $0.eventsDeduplicated }),
        (MetricName.eventsStored, { $0.eventsStored }), (MetricName.productsEmbedded, { $0.productsEmbedded }),
        (MetricName.batches, { $0.batches }), (MetricName.batchRetries, { $0.batchRetries }),
    ]

    /// The points for `o`; none when it is not later than the previous observation.
    public mutating func points(_ o: MetricsObservation) -> [MetricPoint] {
        let span = o.at - previous.at
        guard span > 0 else { return [] }
        let p = previous
        previous = o
        var out: [MetricPoint] = []
        out.reserveCapacity(40)
        // An increase; a counter that went down was reset (a new engine), so all of it is new.
        func increase(_ now: Int64, _ before: Int64) -> Double { Double(now >= before ? now - before : now) }
        func counter(_ metric: String, _ label: String = "", _ value: Double) {
            out.append(MetricPoint(at: o.at, worker: worker, metric: metric, label: label, value: value, spanMillis: span))
        }
        func gauge(_ metric: String, _ label: String = "", _ value: Double) {
            out.append(MetricPoint(at: o.at, worker: worker, metric: metric, label: label, value: value))
        }
        for (name, read) in Self.counters { counter(name, "", increase(read(o.stats), read(p.stats))) }
        for (reason, n) in o.deadLettersByReason.sorted(by: { $0.key < $1.key }) {
            counter(MetricName.deadLetters, reason, increase(n, p.deadLettersByReason[reason] ?? 0))
        }
        counter(MetricName.pointsDropped, "", increase(o.pointsDropped, p.pointsDropped))
        let batches = o.stats.batches - p.stats.batches
        if batches > 0 { gauge(MetricName.batchSize, "", Double(o.stats.eventsTotal - p.stats.eventsTotal) / Double(batches)) }
        gauge(MetricName.latencyP50, "", o.stats.recentLatencyP50Millis)
        gauge(MetricName.latencyP99, "", o.stats.recentLatencyP99Millis)
        for (stage, l) in o.stats.recentStageMillis.sorted(by: { $0.key < $1.key }) {
            gauge(MetricName.stageP50, stage, l.p50Millis)
            gauge(MetricName.stageP99, stage, l.p99Millis)
        }
        gauge(MetricName.consumerLag, "", Double(o.stats.lagByPartition.values.reduce(0, +)))
        for (partition, lag) in o.stats.lagByPartition.sorted(by: { $0.key < $1.key }) {
            gauge(MetricName.consumerLag, partition, Double(lag))
        }
        for (name, health) in o.dependencies.sorted(by: { $0.key < $1.key }) {
            let up: Double = switch health { case .ok: 1; case .degraded: 0.5; case .down: 0 }
            gauge(MetricName.dependencyUp, name, up)
        }
        return out
    }
}

/// One row of the 1-minute rollup, keyed by minute, worker, metric and label. Counters split their increase over
/// the minutes their span covers (in proportion to time, as the history's buckets do); gauges add positive
/// values to `sum`/`count`/`max` (0 is "no data" for the latency figures) and keep the last value.
struct RollupRow: Hashable {
    /// The bucket's start (a minute, or five in the 5-minute rollup).
    var minute: EpochMillis
    var worker: String
    var metric: String
    var label: String
    var sum: Double = 0
    var count: Int64 = 0
    var max: Double?
    var coveredMillis: Int64 = 0
    var lastAt: EpochMillis?
    var lastValue: Double?

    struct Key: Hashable {
        var minute: EpochMillis
        var worker: String
        var metric: String
        var label: String
    }

    /// The rollup rows of some points, merged by key.
    static func rows(for points: [MetricPoint]) -> [RollupRow] {
        var rows: [Key: RollupRow] = [:]
        func update(_ key: Key, _ change: (inout RollupRow) -> Void) {
            var row = rows[key] ?? RollupRow(minute: key.minute, worker: key.worker, metric: key.metric, label: key.label)
            change(&row)
            rows[key] = row
        }
        for p in points {
            if p.isCounter {
                var t = p.at - p.spanMillis
                while t < p.at {
                    let minute = floorDiv(t, 60_000) * 60_000
                    let end = min(p.at, minute + 60_000)
                    let part = end - t
                    update(Key(minute: minute, worker: p.worker, metric: p.metric, label: p.label)) {
                        $0.sum += p.value * Double(part) / Double(p.spanMillis)
                        $0.coveredMillis += part
                    }
                    t = end
                }
            } else {
                let minute = floorDiv(p.at, 60_000) * 60_000
                update(Key(minute: minute, worker: p.worker, metric: p.metric, label: p.label)) {
                    if p.value > 0 {
                        $0.sum += p.value
                        $0.count += 1
                        $0.max = Swift.max($0.max ?? p.value, p.value)
                    }
                    if $0.lastAt == nil || p.at >= $0.lastAt! {
                        $0.lastAt = p.at
                        $0.lastValue = p.value
                    }
                }
            }
        }
        return Array(rows.values)
    }

    /// The same rows in wider buckets (a multiple of a minute): sums, counts and coverage add, the maximum and the
    /// last value carry over, so the wide rollup answers exactly what its minutes would.
    static func coarsened(_ minuteRows: [RollupRow], to bucketMillis: EpochMillis) -> [RollupRow] {
        var rows: [Key: RollupRow] = [:]
        for r in minuteRows {
            let key = Key(minute: floorDiv(r.minute, bucketMillis) * bucketMillis, worker: r.worker, metric: r.metric, label: r.label)
            var row = rows[key] ?? RollupRow(minute: key.minute, worker: key.worker, metric: key.metric, label: key.label)
            row.sum += r.sum
            row.count += r.count
            if let m = r.max { row.max = Swift.max(row.max ?? m, m) }
            row.coveredMillis += r.coveredMillis
            if let at = r.lastAt, row.lastAt == nil || at >= row.lastAt! {
                row.lastAt = at
                row.lastValue = r.lastValue
            }
            rows[key] = row
        }
        return Array(rows.values)
    }
}

func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
