import Foundation
import Synchronization
import VectorStreamCore

// MARK: What the console reads besides the stores

/// One published snapshot of a worker's figures, as a metrics history keeps it.
public struct MetricsSnapshot: Sendable {
    public var worker: String
    public var at: EpochMillis
    public var stats: PipelineStats

    public init(worker: String, at: EpochMillis, stats: PipelineStats) {
        self.worker = worker
        self.at = at
        self.stats = stats
    }
}

/// The figures `GET /v1/metrics/history` can chart, with their units.
public enum HistoryMetric: String, CaseIterable, Sendable {
    case eventsInPerSecond = "events_in_per_second"
    case eventsStoredPerSecond = "events_stored_per_second"
    case eventsRejectedPerSecond = "events_rejected_per_second"
    case productsEmbeddedPerSecond = "products_embedded_per_second"
    case latencyP50 = "latency_p50_ms"
    case latencyP99 = "latency_p99_ms"
    case consumerLag = "consumer_lag"

    public var unit: String {
        switch self {
        case .eventsInPerSecond, .eventsStoredPerSecond, .eventsRejectedPerSecond: "events/s"
        case .productsEmbeddedPerSecond: "products/s"
        case .latencyP50, .latencyP99: "ms"
        case .consumerLag: "messages"
        }
    }

    /// A cumulative counter whose rate is charted, or nil for a gauge.
    var counter: ((PipelineStats) -> Int64)? {
        switch self {
        case .eventsInPerSecond: { $0.eventsTotal }
        case .eventsStoredPerSecond: { $0.eventsStored }
        case .eventsRejectedPerSecond: { $0.eventsRejected }
        case .productsEmbeddedPerSecond: { $0.productsEmbedded }
        case .latencyP50, .latencyP99, .consumerLag: nil
        }
    }
}

/// One query of the history: a metric over the last `minutes`, in buckets of `stepSeconds`.
public struct MetricsHistoryQuery: Sendable, Hashable {
    public var metric: HistoryMetric
    /// First bucket's start and the end of the window (wall-clock milliseconds); buckets start at multiples of
    /// the step.
    public var from: EpochMillis
    public var to: EpochMillis
    public var stepSeconds: Int
    /// One worker, or nil for all of them summed (rates, lag) or combined (latency).
    public var worker: String?

    public init(metric: HistoryMetric, from: EpochMillis, to: EpochMillis, stepSeconds: Int, worker: String? = nil) {
        self.metric = metric
        self.from = from
        self.to = to
        self.stepSeconds = stepSeconds
        self.worker = worker
    }
}

/// A time series answered by a metrics history; `values[i]` is the bucket starting at `from + i * step`, nil where
/// no worker published in it.
public struct MetricsSeries: Sendable {
    public var values: [Double?]
    /// The workers that published in the window.
    public var workers: [String]
    /// Where it came from (`sqlite`, `postgresql`).
    public var source: String

    public init(values: [Double?], workers: [String], source: String) {
        self.values = values
        self.workers = workers
        self.source = source
    }
}

/// Where `GET /v1/metrics/history` reads. A store that keeps snapshots implements it with
/// ``SnapshotMetricsHistory``; one that can bucket by itself (PostgreSQL, #18) may answer the same query in SQL.
public protocol MetricsHistory: Sendable {
    func series(_ query: MetricsHistoryQuery) async throws -> MetricsSeries
}

/// Buckets computed from snapshots: rates from successive cumulative counters of each worker (a counter that
/// went down is a restart and its interval is skipped; a process's first snapshot, whose counters count from 0
/// since its engine started `elapsed_seconds` before, gives the interval from that start, so a run that published
/// once, such as a demo done in one batch, still has its rate; an interval is spread over the buckets it overlaps, and
/// a rate is the events of the bucket over the time the snapshots cover in it, so a half-covered bucket reads
/// the true rate), summed over workers; lag the last value of each worker in the bucket, summed; latency p50
/// the mean and p99 the highest of the one-minute figures published in the bucket (0, meaning no event in that
/// minute, is left out).
public struct SnapshotMetricsHistory: MetricsHistory {
    /// Snapshots between two times, for one worker or all, thinned at most to one per worker per given
    /// milliseconds.
    public typealias Reader = @Sendable (_ from: EpochMillis, _ to: EpochMillis, _ thinMillis: Int64, _ worker: String?) async throws -> [MetricsSnapshot]
    let read: Reader
    let source: String

    public init(source: String = "sqlite", read: @escaping Reader) {
        self.read = read
        self.source = source
    }

    public func series(_ query: MetricsHistoryQuery) async throws -> MetricsSeries {
        let step = Int64(query.stepSeconds) * 1000
        // Rows are thinned to about ten per bucket; one interval before the window gives the first bucket its rate.
        let thin = max(step / 10, 100)
        let readFrom = query.from - max(step, 30_000)
        let snapshots = try await read(readFrom, query.to, thin, query.worker)
        return MetricsSeries(values: Self.bucket(snapshots, query: query, readFrom: readFrom),
                             workers: Array(Set(snapshots.map(\.worker))).sorted(), source: source)
    }

    /// `readFrom`: where the snapshots were read from; a process that started after it has all its snapshots
    /// here, so its first one may be paired with its start (nil: never).
    static func bucket(_ snapshots: [MetricsSnapshot], query: MetricsHistoryQuery, readFrom: EpochMillis? = nil) -> [Double?] {
        let step = Int64(query.stepSeconds) * 1000
        let count = Int(max(0, (query.to - query.from + step - 1) / step))
        guard count > 0 else { return [] }
        func index(_ t: EpochMillis) -> Int? {
            guard t >= query.from, t < query.from + Int64(count) * step else { return nil }
            return Int((t - query.from) / step)
        }
        let byWorker = Dictionary(grouping: snapshots, by: \.worker).mapValues { $0.sorted { $0.at < $1.at } }
        if let counter = query.metric.counter {
            var events = [Double](repeating: 0, count: count)
            var covered = [[Double]](repeating: [Double](repeating: 0, count: count), count: byWorker.count)
            for (w, series) in byWorker.values.enumerated() {
                for (k, b) in series.enumerated() {
                    // The interval that ends at b: from the previous snapshot of the same process, or from the
                    // process's start (counters at 0) when b is its first one here.
                    let started = b.stats.elapsedSeconds > 0 ? b.at - Int64(b.stats.elapsedSeconds * 1000) : nil
                    let a: (at: EpochMillis, count: Int64)
                    if k > 0, series[k - 1].at >= (started ?? .min) {
                        a = (series[k - 1].at, counter(series[k - 1].stats))
                    } else if let started, let readFrom, started >= (k > 0 ? series[k - 1].at : readFrom) {
                        a = (started, 0)
                    } else {
                        continue
                    }
                    guard b.at > a.at else { continue }
                    let delta = counter(b.stats) - a.count
                    // A restart (counter down) or a long silence: no rate for that interval.
                    guard delta >= 0, b.at - a.at <= max(step * 4, 120_000) else { continue }
                    let span = Double(b.at - a.at)
                    var t = max(a.at, query.from)
                    while t < b.at, let i = index(t) {
                        let end = min(b.at, query.from + Int64(i + 1) * step)
                        let part = Double(end - t)
                        events[i] += Double(delta) * part / span
                        covered[w][i] += part / 1000
                        t = end
                    }
                }
            }
            return (0..<count).map { i in
                let seconds = covered.map { $0[i] }.max() ?? 0
                return seconds > 0 ? events[i] / seconds : nil
            }
        }
        var sums = [Double](repeating: 0, count: count)
        var counts = [Int](repeating: 0, count: count)
        var maxima = [Double?](repeating: nil, count: count)
        var lagByBucket = [[String: Int64]](repeating: [:], count: count)
        for (worker, series) in byWorker {
            for s in series {
                guard let i = index(s.at) else { continue }
                switch query.metric {
                case .consumerLag:
                    lagByBucket[i][worker] = s.stats.lagByPartition.values.reduce(0, +)
                case .latencyP50:
                    if s.stats.recentLatencyP50Millis > 0 {
                        sums[i] += s.stats.recentLatencyP50Millis
                        counts[i] += 1
                    }
                default:
                    if s.stats.recentLatencyP99Millis > 0 {
                        maxima[i] = max(maxima[i] ?? 0, s.stats.recentLatencyP99Millis)
                    }
                }
            }
        }
        switch query.metric {
        case .consumerLag:
            return lagByBucket.map { $0.isEmpty ? nil : Double($0.values.reduce(0, +)) }
        case .latencyP50:
            return (0..<count).map { counts[$0] > 0 ? sums[$0] / Double(counts[$0]) : nil }
        default:
            return maxima
        }
    }
}

/// The embedded store's size, for the console's stores panel.
public struct StoreSize: Sendable {
    public var bytesInUse: Int64?
    public var bytesOnDisk: Int64?

    public init(bytesInUse: Int64?, bytesOnDisk: Int64?) {
        self.bytesInUse = bytesInUse
        self.bytesOnDisk = bytesOnDisk
    }
}

/// What the console shows of the embedder beyond its model version.
public struct EmbedderDetails: Sendable {
    public var precision: String?
    public var matrixKernel: String?
    /// Sentences embedded by this process, and their rate while the embedder was busy.
    public var sentencesEmbedded: Int64?
    public var sentencesPerSecond: Double?

    public init(precision: String? = nil, matrixKernel: String? = nil, sentencesEmbedded: Int64? = nil,
                sentencesPerSecond: Double? = nil) {
        self.precision = precision
        self.matrixKernel = matrixKernel
        self.sentencesEmbedded = sentencesEmbedded
        self.sentencesPerSecond = sentencesPerSecond
    }
}

/// An embedder that counts the sentences it embeds and the time it is busy: sentences per busy second is the
/// embedder's throughput, whatever the event rate.
public final class MeteredEmbedder: TextEmbedder {
    public let inner: any TextEmbedder
    public let precision: String?
    public let matrixKernel: String?
    private let counts = Mutex<(sentences: Int64, busyNanos: UInt64)>((0, 0))

    public init(_ inner: any TextEmbedder, precision: String? = nil, matrixKernel: String? = nil) {
        self.inner = inner
        self.precision = precision
        self.matrixKernel = matrixKernel
    }

    public var modelVersion: String { inner.modelVersion }
    public var dimension: Int { inner.dimension }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        let start = ContinuousClock.now
        let vectors = try await inner.embed(texts)
        let c = (ContinuousClock.now - start).components
        let nanos = UInt64(max(0, c.seconds)) * 1_000_000_000 + UInt64(max(0, c.attoseconds) / 1_000_000_000)
        counts.withLock { $0.sentences += Int64(texts.count); $0.busyNanos += nanos }
        return vectors
    }

    public func details() -> EmbedderDetails {
        let (sentences, busy) = counts.withLock { $0 }
        return EmbedderDetails(precision: precision, matrixKernel: matrixKernel, sentencesEmbedded: sentences,
                               sentencesPerSecond: busy > 0 ? Double(sentences) / (Double(busy) / 1e9) : nil)
    }
}

/// Since when each health check has answered what it answers now (a check's state is transient; the console
/// shows "down since 12:03").
final class HealthMemory: Sendable {
    private let states = Mutex<[String: (status: String, since: EpochMillis)]>([:])

    func note(_ name: String, status: String, now: EpochMillis = wallClockMillis()) -> EpochMillis {
        states.withLock { s in
            if let known = s[name], known.status == status { return known.since }
            s[name] = (status, now)
            return now
        }
    }
}

/// Live state that also records a history: each publish goes to `live` (Redis, read by every worker) and to
/// `history` (the embedded store's time series, which `GET /v1/metrics/history` reads). A failure of the
/// history is not the live state's: it is ignored.
public struct HistoryRecordingLiveState: LiveStateStore {
    public let live: any LiveStateStore
    public let history: any LiveStateStore

    public init(live: any LiveStateStore, history: any LiveStateStore) {
        self.live = live
        self.history = history
    }

    public func publish(worker: String, stats: PipelineStats) async throws {
        try? await history.publish(worker: worker, stats: stats)
        try await live.publish(worker: worker, stats: stats)
    }

    public func workers() async throws -> [String: PipelineStats] { try await live.workers() }
}
