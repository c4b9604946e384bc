import Foundation
import Logging
import Metrics
import PostgresNIO
import Synchronization
import VectorStreamCore

/// The metrics history writer of one worker: every `write_interval` it samples the worker's figures into points
/// and appends them to a bounded buffer; a separate loop writes the buffer to PostgreSQL. Nothing in the event
/// path waits on PostgreSQL: when it is slow or down, the buffer keeps the newest `buffer_points` points, the
/// oldest are dropped and counted (`vectorstream_metrics_points_dropped_total`), the outage is logged once, the
/// health check says degraded, and writing resumes by itself.
public final class PostgresMetricsStore: HealthCheckable, Sendable {
    public let endpoint: PostgresEndpoint
    public let client: PostgresClient
    public let settings: VectorStreamConfiguration.PostgresSettings
    public let worker: String
    let logger: Logger
    /// Longest wait for one write, migration or maintenance pass before it counts as failed.
    let callTimeout: Duration
    private let state = Mutex(State())
    private let droppedCounter = Counter(label: "vectorstream_metrics_points_dropped_total")
    private let writtenCounter = Counter(label: "vectorstream_metrics_points_written_total")
    private let bufferGauge = Gauge(label: "vectorstream_metrics_buffer_points")

    struct State {
        var buffer: [MetricPoint] = []
        var dropped: Int64 = 0
        var written: Int64 = 0
        /// Points ever removed from the buffer's front (written or dropped): how a write finds its batch again.
        var removedFromFront: Int64 = 0
        var schemaReady = false
        /// Set while writes fail: since when, why, and the drops when it began (for the recovery line).
        var outage: (since: EpochMillis, reason: String, droppedAtStart: Int64)?
    }

    public init(settings: VectorStreamConfiguration.PostgresSettings, worker: String, callTimeout: Duration = .seconds(10),
                logger: Logger = Logger(label: "vectorstream.postgres")) throws {
        guard let url = settings.url else { throw ConfigurationError("postgres.url is not set") }
        endpoint = try PostgresEndpoint(url: url)
        self.settings = settings
        self.worker = worker
        self.callTimeout = callTimeout
        self.logger = logger
        // Connection failures are this type's to report (once per outage), not the pool's on every retry.
        client = PostgresClient(configuration: endpoint.clientConfiguration())
    }

    public var dependencyName: String { "metrics_store" }

    /// Degraded, never down: without its history the pipeline still does its work.
    public func checkHealth() async -> DependencyHealth {
        let s = state.withLock { ($0.outage, $0.schemaReady, $0.dropped, $0.buffer.count) }
        if let outage = s.0 {
            let seconds = (wallClockMillis() - outage.since) / 1000
            return .degraded("PostgreSQL not writable for \(seconds) s (\(outage.reason)); \(s.3) points buffered, \(s.2) dropped")
        }
        if !s.1 { return .degraded("schema not ready yet") }
        return .ok
    }

    /// Points waiting, dropped and written so far.
    public func counts() -> (buffered: Int, dropped: Int64, written: Int64) {
        state.withLock { ($0.buffer.count, $0.dropped, $0.written) }
    }

    /// Whether the schema has been migrated (writes can begin).
    var isSchemaReady: Bool { state.withLock { $0.schemaReady } }

    /// Adds points to the buffer, dropping the oldest beyond its bound. Never waits.
    public func enqueue(_ points: [MetricPoint]) {
        let (dropped, size) = state.withLock { s -> (Int, Int) in
            s.buffer.append(contentsOf: points)
            let over = max(0, s.buffer.count - settings.bufferPoints)
            if over > 0 {
                s.buffer.removeFirst(over)
                s.removedFromFront += Int64(over)
                s.dropped += Int64(over)
            }
            return (over, s.buffer.count)
        }
        if dropped > 0 { droppedCounter.increment(by: dropped) }
        bufferGauge.record(size)
    }

    /// The history reader over the same client.
    public var history: PostgresMetricsHistory { PostgresMetricsHistory(client: client, logger: logger) }

    /// Runs the client, the schema, the sampler, the writer and the partition upkeep until cancelled; then takes
    /// one last sample and writes what is buffered if PostgreSQL answers within 5 s.
    public func run(observe: @escaping @Sendable () async -> MetricsObservation) async {
        // Detached: a child or plain Task inherits ServiceLifecycle's graceful-shutdown task local, and the client
        // shuts its pool down on a graceful shutdown, before the last points below are written (every last flush
        // failed with ConnectionPoolError and waited out its 5 s).
        let clientTask = Task.detached { await self.client.run() }
        let writer = Task { await self.writeLoop() }
        let start = await observe()
        // A process starts at zero: a baseline of zeros makes each counter's points add up to its total.
        var sampler = MetricsSampler(worker: worker, baseline: MetricsObservation(at: start.at, stats: PipelineStats()))
        func sample() async {
            var o = await observe()
            o.pointsDropped = state.withLock { $0.dropped }
            enqueue(sampler.points(o))
        }
        while !Task.isCancelled {
            try? await Task.sleep(for: settings.writeInterval)
            if Task.isCancelled { break }
            await sample()
        }
        await sample()
        writer.cancel()
        await writer.value
        // Not under this task's cancellation: the last points are written if PostgreSQL answers soon.
        await Task.detached {
            _ = try? await withTimeout(.seconds(5)) {
                while self.counts().buffered > 0, self.state.withLock({ $0.schemaReady }) {
                    if await self.flushOnce() != .wrote { try await Task.sleep(for: .milliseconds(200)) }
                }
            }
        }.value
        clientTask.cancel()
        await clientTask.value
    }

    /// Writes until cancelled, then drains what it can for up to 5 s.
    func writeLoop() async {
        var backoff: Duration = .milliseconds(500)
        var lastMaintenance: ContinuousClock.Instant?
        while !Task.isCancelled {
            if !state.withLock({ $0.schemaReady }) {
                do {
                    let report = try await withTimeout(callTimeout) {
                        try await MetricsSchema.migrate(self.client, retention: self.settings.retention, logger: self.logger)
                    }
                    state.withLock { $0.schemaReady = true }
                    logger.info("metrics store ready", metadata: ["at": "\(endpoint)", "storage": "\(report.storage.rawValue)",
                                                                   "applied": "\(report.applied)"])
                } catch {
                    noteFailure(error)
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(5))
                    continue
                }
            }
            if lastMaintenance == nil || lastMaintenance!.duration(to: .now) > .seconds(600) {
                lastMaintenance = .now
                do {
                    _ = try await withTimeout(callTimeout) {
                        try await MetricsSchema.maintain(self.client, retention: self.settings.retention, logger: self.logger)
                    }
                } catch {
                    logger.warning("metrics store: partition upkeep failed; trying again in 10 min", metadata: ["error": "\(Self.describe(error))"])
                }
            }
            switch await flushOnce() {
            case .wrote: backoff = .milliseconds(500)
            case .empty: try? await Task.sleep(for: .milliseconds(200))
            case .failed:
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    enum FlushOutcome: Equatable { case wrote, empty, failed }

    /// Writes the oldest buffered points (up to 5,000) in one transaction; they leave the buffer only once stored.
    func flushOnce() async -> FlushOutcome {
        let (batch, base) = state.withLock { (Array($0.buffer.prefix(5000)), $0.removedFromFront) }
        guard !batch.isEmpty else { return .empty }
        do {
            try await withTimeout(callTimeout) { try await Self.write(batch, to: self.client, logger: self.logger) }
        } catch {
            // A write cut short by the writer's own cancellation (shutdown) says nothing about PostgreSQL.
            if !Task.isCancelled { noteFailure(error) }
            return .failed
        }
        let recovered = state.withLock { s -> (since: EpochMillis, dropped: Int64)? in
            // Drops while it was written may have removed part of the batch from the front already.
            let alreadyGone = Int(s.removedFromFront - base)
            let remove = min(max(0, batch.count - alreadyGone), s.buffer.count)
            s.buffer.removeFirst(remove)
            s.removedFromFront += Int64(remove)
            s.written += Int64(batch.count)
            defer { s.outage = nil }
            return s.outage.map { ($0.since, s.dropped - $0.droppedAtStart) }
        }
        writtenCounter.increment(by: batch.count)
        if let recovered {
            logger.notice("metrics store: writing to PostgreSQL again", metadata: [
                "outage_seconds": "\((wallClockMillis() - recovered.since) / 1000)", "points_dropped": "\(recovered.dropped)"])
        }
        return .wrote
    }

    /// Logged once per outage, when it begins.
    private func noteFailure(_ error: any Error) {
        let reason = Self.describe(error)
        let first = state.withLock { s -> Bool in
            guard s.outage == nil else { return false }
            s.outage = (wallClockMillis(), reason, s.dropped)
            return true
        }
        if first {
            logger.warning("metrics store: PostgreSQL is not writable; keeping the newest points in memory and retrying",
                           metadata: ["at": "\(endpoint)", "error": "\(reason)", "buffer_points": "\(settings.bufferPoints)"])
        }
    }

    /// A short reason without the query's text or any credential.
    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] { return "server: \(message)" }
            return "\(e.code)"
        }
        if error is TimeoutError { return "timed out" }
        return "\(type(of: error))"
    }

    /// Inserts points and folds them into the 1- and 5-minute rollups, in one transaction.
    public static func write(_ points: [MetricPoint], to client: PostgresClient, logger: Logger) async throws {
        let minuteRows = RollupRow.rows(for: points)
        try await client.withTransaction(logger: logger) { connection in
            let times = points.map(\.at), workers = points.map(\.worker), metrics = points.map(\.metric)
            let labels = points.map(\.label), values = points.map(\.value), spans = points.map { Int32(clamping: $0.spanMillis) }
            try await connection.query("""
                INSERT INTO vectorstream_metric_points (time, worker, metric, label, value, span_ms)
                SELECT to_timestamp(t::float8 / 1000), w, m, l, v, s
                FROM unnest(\(times)::bigint[], \(workers)::text[], \(metrics)::text[], \(labels)::text[], \(values)::float8[], \(spans)::int[])
                    AS u(t, w, m, l, v, s)
                """, logger: logger)
            for (table, bucketMillis) in MetricsSchema.rollups {
                let rows = bucketMillis == 60_000 ? minuteRows : RollupRow.coarsened(minuteRows, to: bucketMillis)
                try await upsert(rows, into: table, connection: connection, logger: logger)
            }
        }
    }

    /// Adds rollup rows to the rows already kept for the same buckets.
    static func upsert(_ rows: [RollupRow], into table: String, connection: PostgresConnection, logger: Logger) async throws {
        let buckets = rows.map(\.minute), rw = rows.map(\.worker), rm = rows.map(\.metric), rl = rows.map(\.label)
        let sums = rows.map(\.sum), counts = rows.map(\.count), maxima = rows.map { $0.max ?? .nan }
        let covered = rows.map(\.coveredMillis), lastAt = rows.map { $0.lastAt ?? -1 }, lastValue = rows.map { $0.lastValue ?? .nan }
        try await connection.query("""
            INSERT INTO \(unescaped: table) AS r (bucket, worker, metric, label, sum, count, max, covered_ms, last_time, last_value)
            SELECT to_timestamp(b::float8 / 1000), w, m, l, s, c, NULLIF(x, 'NaN'::float8), cov,
                   CASE WHEN lt < 0 THEN NULL ELSE to_timestamp(lt::float8 / 1000) END, NULLIF(lv, 'NaN'::float8)
            FROM unnest(\(buckets)::bigint[], \(rw)::text[], \(rm)::text[], \(rl)::text[], \(sums)::float8[], \(counts)::bigint[],
                        \(maxima)::float8[], \(covered)::bigint[], \(lastAt)::bigint[], \(lastValue)::float8[])
                AS u(b, w, m, l, s, c, x, cov, lt, lv)
            ON CONFLICT (metric, label, worker, bucket) DO UPDATE SET
                sum = r.sum + excluded.sum, count = r.count + excluded.count, max = greatest(r.max, excluded.max),
                covered_ms = r.covered_ms + excluded.covered_ms,
                last_value = CASE WHEN r.last_time IS NULL OR excluded.last_time >= r.last_time THEN excluded.last_value ELSE r.last_value END,
                last_time = greatest(r.last_time, excluded.last_time)
            """, logger: logger)
    }
}

/// A call that took longer than allowed.
public struct TimeoutError: Error, CustomStringConvertible {
    public var description: String { "timed out" }
}

/// Runs `body`, giving up (and cancelling it) after `limit`.
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimeoutError() }
        return value
    }
}
