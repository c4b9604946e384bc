import Foundation
import Logging
import PostgresNIO
import VectorStreamCore
import VectorStreamServer

/// `vectorstream bench metrics` (BENCHMARKS.md): fills a fresh database with `hours` of points from `workers`
/// workers at `intervalSeconds` resolution (generated in the server, the same ~40 series per worker and time a
/// worker writes, with the rollup they would have produced), then times history queries as the API sends them.
public enum MetricsBenchmark {
    public struct Timing: Sendable {
        public var name: String
        public var p50Millis: Double
        public var p99Millis: Double
        public var maxMillis: Double
        public var buckets: Int
    }

    /// Inserts the points and the rollup; returns the number of points.
    public static func fill(_ client: PostgresClient, workers: Int, hours: Int, intervalSeconds: Int, now: EpochMillis,
                            logger: Logger) async throws -> Int64 {
        let end = now / Int64(intervalSeconds * 1000) * Int64(intervalSeconds * 1000)
        let start = end - Int64(hours) * 3_600_000
        // Partitions from the first day on.
        _ = try await MetricsSchema.maintain(client, retention: .seconds(366 * 86_400), now: start, logger: logger)
        _ = try await MetricsSchema.maintain(client, retention: .seconds(366 * 86_400), now: now, logger: logger)
        let series = """
            (VALUES ('events_in', '', 1), ('events_valid', '', 1), ('events_rejected', '', 1), ('events_deduplicated', '', 1),
                    ('events_stored', '', 1), ('products_embedded', '', 1), ('batches', '', 1), ('batch_retries', '', 1),
                    ('dead_letters', 'not_json', 1), ('dead_letters', 'missing_field', 1), ('metrics_points_dropped', '', 1),
                    ('batch_size', '', 0), ('latency_p50_ms', '', 0), ('latency_p99_ms', '', 0),
                    ('stage_p50_ms', 'parse', 0), ('stage_p99_ms', 'parse', 0), ('stage_p50_ms', 'dedup', 0), ('stage_p99_ms', 'dedup', 0),
                    ('stage_p50_ms', 'embed', 0), ('stage_p99_ms', 'embed', 0), ('stage_p50_ms', 'upsert', 0), ('stage_p99_ms', 'upsert', 0),
                    ('stage_p50_ms', 'store', 0), ('stage_p99_ms', 'store', 0), ('stage_p50_ms', 'acknowledge', 0), ('stage_p99_ms', 'acknowledge', 0),
                    ('stage_p50_ms', 'dead_letters', 0), ('stage_p99_ms', 'dead_letters', 0),
                    ('consumer_lag', '', 0), ('consumer_lag', 'events[0]', 0), ('consumer_lag', 'events[1]', 0), ('consumer_lag', 'events[2]', 0),
                    ('dependency_up', 'events', 0), ('dependency_up', 'vectors', 0), ('dependency_up', 'redis', 0), ('dependency_up', 'metrics_store', 0))
                AS s(metric, label, counter)
            """
        let span = intervalSeconds * 1000
        try await client.query(PostgresQuery(unsafeSQL: """
            INSERT INTO vectorstream_metric_points (time, worker, metric, label, value, span_ms)
            SELECT to_timestamp(t::float8 / 1000), 'worker-' || w, s.metric, s.label,
                   CASE WHEN s.counter = 1 THEN 50 + (t / 1000 + w) % 100 ELSE 5 + (t / 1000 + w) % 40 END,
                   CASE WHEN s.counter = 1 THEN \(span) ELSE 0 END
            FROM generate_series(1, \(workers)) AS w, generate_series(\(start + Int64(span)), \(end), \(span)) AS t, \(series)
            """), logger: logger)
        // The rollup the writer would have kept: a counter's interval ends at its time (a time on a minute boundary
        // closes the minute before it); gauges by their own minute.
        try await client.query(PostgresQuery(unsafeSQL: """
            INSERT INTO vectorstream_metric_rollup_1m (bucket, worker, metric, label, sum, count, max, covered_ms, last_time, last_value)
            SELECT date_trunc('minute', time - interval '1 millisecond'), worker, metric, label, sum(value), 0, NULL, sum(span_ms), NULL, NULL
            FROM vectorstream_metric_points WHERE span_ms > 0 GROUP BY 1, 2, 3, 4
            """), logger: logger)
        try await client.query(PostgresQuery(unsafeSQL: """
            INSERT INTO vectorstream_metric_rollup_1m (bucket, worker, metric, label, sum, count, max, covered_ms, last_time, last_value)
            SELECT date_trunc('minute', time), worker, metric, label, coalesce(sum(value) FILTER (WHERE value > 0), 0),
                   count(*) FILTER (WHERE value > 0), max(value) FILTER (WHERE value > 0), 0, max(time),
                   (array_agg(value ORDER BY time DESC))[1]
            FROM vectorstream_metric_points WHERE span_ms = 0 GROUP BY 1, 2, 3, 4
            """), logger: logger)
        try await client.query(PostgresQuery(unsafeSQL: MetricsSchema.fill5mFrom1m), logger: logger)
        try await client.query("ANALYZE vectorstream_metric_points", logger: logger)
        try await client.query("ANALYZE vectorstream_metric_rollup_1m", logger: logger)
        try await client.query("ANALYZE vectorstream_metric_rollup_5m", logger: logger)
        var n: Int64 = 0
        for try await c in try await client.query("SELECT count(*) FROM vectorstream_metric_points", logger: logger).decode(Int64.self) { n = c }
        return n
    }

    /// Times each query `repeats` times (after a few unmeasured runs), as `GET /v1/metrics/history` sends it.
    public static func time(_ history: PostgresMetricsHistory, now: EpochMillis, repeats: Int) async throws -> [Timing] {
        let cases: [(String, HistoryMetric, Int, Int, String?)] = [
            // A day at the API's default step (900 s, the 5-minute rollup).
            ("events_stored_per_second, 24 h, step 900 s (5-min rollup), all workers", .eventsStoredPerSecond, 1440, 900, nil),
            ("events_stored_per_second, 24 h, step 900 s (5-min rollup), one worker", .eventsStoredPerSecond, 1440, 900, "worker-2"),
            ("latency_p99_ms, 24 h, step 900 s (5-min rollup)", .latencyP99, 1440, 900, nil),
            ("consumer_lag, 24 h, step 900 s (5-min rollup)", .consumerLag, 1440, 900, nil),
            ("events_in_per_second, 24 h, step 300 s (5-min rollup, 288 buckets)", .eventsInPerSecond, 1440, 300, nil),
            // Finer than the API's default: every minute of the day (1-minute rollup).
            ("events_stored_per_second, 24 h, step 720 s (1-min rollup)", .eventsStoredPerSecond, 1440, 720, nil),
            ("events_in_per_second, 24 h, step 60 s (1-min rollup, 1,440 buckets)", .eventsInPerSecond, 1440, 60, nil),
            ("events_in_per_second, 1 h, step 60 s (1-min rollup; the API's default for 1 h)", .eventsInPerSecond, 60, 60, nil),
            ("events_in_per_second, 1 h, step 30 s (points)", .eventsInPerSecond, 60, 30, nil),
            ("events_in_per_second, 15 min, step 10 s (points)", .eventsInPerSecond, 15, 10, nil),
            ("latency_p50_ms, 1 h, step 15 s (points)", .latencyP50, 60, 15, nil),
            ("consumer_lag, 1 h, step 15 s (points)", .consumerLag, 60, 15, nil),
        ]
        var out: [Timing] = []
        for (name, metric, minutes, step, worker) in cases {
            let stepMillis = Int64(step) * 1000
            let to = (now / stepMillis + 1) * stepMillis
            let from = to - Int64((minutes * 60 + step - 1) / step) * stepMillis
            let q = MetricsHistoryQuery(metric: metric, from: from, to: to, stepSeconds: step, worker: worker)
            var buckets = 0
            for _ in 0..<3 { buckets = try await history.series(q).values.compactMap { $0 }.count }
            var millis: [Double] = []
            for _ in 0..<repeats {
                let t0 = ContinuousClock.now
                _ = try await history.series(q)
                let d = t0.duration(to: .now).components
                millis.append(Double(d.seconds) * 1000 + Double(d.attoseconds) / 1e15)
            }
            millis.sort()
            func quantile(_ p: Double) -> Double { millis[min(millis.count - 1, Int((Double(millis.count) * p).rounded(.up)) - 1)] }
            out.append(Timing(name: name, p50Millis: quantile(0.5), p99Millis: quantile(0.99), maxMillis: millis.last ?? 0, buckets: buckets))
        }
        return out
    }
}
