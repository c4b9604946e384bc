import Logging
import PostgresNIO
import VectorStreamCore
import VectorStreamServer

/// `GET /v1/metrics/history` answered in SQL from PostgreSQL, with the buckets of ``SnapshotMetricsHistory``:
/// a counter's increase is spread over the buckets its span overlaps and a bucket's rate is its events over the
/// time the points cover in it (the most any one worker covers), summed over workers; lag is each worker's last
/// value in the bucket, summed; latency p50 is the mean and p99 the highest of the positive one-minute figures.
///
/// As there, only points up to the window's end count (an interval that ends after it is not read).
/// Steps that are whole minutes (with the window on minute boundaries, as the API aligns it) read the 1-minute
/// rollup, which keeps exactly these sums, and steps of whole 5 minutes the 5-minute rollup; other steps read the
/// points.
public struct PostgresMetricsHistory: MetricsHistory {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger = Logger(label: "vectorstream.postgres")) {
        self.client = client
        self.logger = logger
    }

    public func series(_ query: MetricsHistoryQuery) async throws -> MetricsSeries {
        let step = Int64(query.stepSeconds) * 1000
        let count = Int(max(0, (query.to - query.from + step - 1) / step))
        guard count > 0 else { return MetricsSeries(values: [], workers: [], source: "postgresql") }
        let to = query.from + Int64(count) * step
        // The widest rollup whose buckets tile the query's (the 5-minute one for day-long charts), else the points.
        let rollupTable = MetricsSchema.rollups.reversed()
            .first { step % $0.bucketMillis == 0 && query.from % $0.bucketMillis == 0 }?.table
        let useRollup = rollupTable != nil
        let rollup = rollupTable ?? MetricsSchema.rollup
        var workers = Set<String>()
        var values = [Double?](repeating: nil, count: count)
        let from = query.from, worker = query.worker
        if let counter = MetricName.counter(for: query.metric) {
            var events = [Double](repeating: 0, count: count)
            var covered = [Double](repeating: 0, count: count)  // the most any one worker covers, in seconds
            // Per worker and bucket inside; summed over workers (events) and the most any covers (time) outside.
            let sql: PostgresQuery = useRollup ? """
                SELECT string_agg(worker, ','), b, sum(s), max(c) FROM (
                SELECT worker, (round(date_part('epoch', bucket) * 1000)::bigint - \(from)) / \(step) AS b,
                       sum(sum)::float8 AS s, sum(covered_ms)::float8 AS c
                FROM \(unescaped: rollup)
                WHERE metric = \(counter) AND label = '' AND covered_ms > 0
                  AND bucket >= to_timestamp(\(Double(from) / 1000)) AND bucket < to_timestamp(\(Double(to) / 1000))
                  AND (\(worker)::text IS NULL OR worker = \(worker)::text)
                GROUP BY worker, b) w GROUP BY b
                """ : """
                WITH iv AS (
                    SELECT worker, value, span_ms::bigint AS span, round(date_part('epoch', time) * 1000)::bigint AS e
                    FROM vectorstream_metric_points
                    WHERE metric = \(counter) AND label = '' AND span_ms > 0
                      AND time > to_timestamp(\(Double(from) / 1000)) AND time <= to_timestamp(\(Double(query.to) / 1000))
                      AND (\(worker)::text IS NULL OR worker = \(worker)::text))
                SELECT string_agg(worker, ','), b, sum(s), max(c) FROM (
                SELECT worker, b,
                       sum(value * (least(e, \(from) + (b + 1) * \(step)) - greatest(e - span, \(from) + b * \(step)))::float8 / span) AS s,
                       sum(least(e, \(from) + (b + 1) * \(step)) - greatest(e - span, \(from) + b * \(step)))::float8 AS c
                FROM iv, generate_series(greatest(0, (e - span - \(from)) / \(step)), (least(e, \(to)) - 1 - \(from)) / \(step)) AS b
                GROUP BY worker, b) w GROUP BY b
                """
            for try await (w, b, sum, ms) in try await client.query(sql, logger: logger).decode((String, Int64, Double, Double).self) {
                guard b >= 0, b < count else { continue }
                for name in w.split(separator: ",") { workers.insert(String(name)) }
                events[Int(b)] = sum
                covered[Int(b)] = ms / 1000
            }
            for i in 0..<count where covered[i] > 0 { values[i] = events[i] / covered[i] }
        } else {
            let metric = query.metric == .consumerLag ? MetricName.consumerLag
                : query.metric == .latencyP50 ? MetricName.latencyP50 : MetricName.latencyP99
            let sql: PostgresQuery
            switch (query.metric, useRollup) {
            case (.consumerLag, false):
                sql = """
                    SELECT DISTINCT ON (worker, b) worker, b, value FROM (
                        SELECT worker, value, e, (e - \(from)) / \(step) AS b FROM (
                            SELECT worker, value, round(date_part('epoch', time) * 1000)::bigint AS e
                            FROM vectorstream_metric_points
                            WHERE metric = \(metric) AND label = '' AND time >= to_timestamp(\(Double(from) / 1000))
                              AND time < to_timestamp(\(Double(to) / 1000)) AND (\(worker)::text IS NULL OR worker = \(worker)::text)) p) q
                    ORDER BY worker, b, e DESC
                    """
            case (.consumerLag, true):
                sql = """
                    SELECT DISTINCT ON (worker, b) worker, b, last_value FROM (
                        SELECT worker, last_value, last_time, (round(date_part('epoch', bucket) * 1000)::bigint - \(from)) / \(step) AS b
                        FROM \(unescaped: rollup)
                        WHERE metric = \(metric) AND label = '' AND last_time IS NOT NULL
                          AND bucket >= to_timestamp(\(Double(from) / 1000)) AND bucket < to_timestamp(\(Double(to) / 1000))
                          AND (\(worker)::text IS NULL OR worker = \(worker)::text)) q
                    ORDER BY worker, b, last_time DESC
                    """
            case (_, false):
                sql = """
                    SELECT string_agg(DISTINCT worker, ','), b, \(unescaped: query.metric == .latencyP50 ? "avg(value)" : "max(value)")::float8 FROM (
                        SELECT worker, value, (round(date_part('epoch', time) * 1000)::bigint - \(from)) / \(step) AS b
                        FROM vectorstream_metric_points
                        WHERE metric = \(metric) AND label = '' AND value > 0 AND time >= to_timestamp(\(Double(from) / 1000))
                          AND time < to_timestamp(\(Double(to) / 1000)) AND (\(worker)::text IS NULL OR worker = \(worker)::text)) q
                    GROUP BY b
                    """
            case (_, true):
                sql = """
                    SELECT string_agg(DISTINCT worker, ','), b, \(unescaped: query.metric == .latencyP50 ? "sum(sum) / sum(count)" : "max(max)")::float8 FROM (
                        SELECT worker, sum, count, max, (round(date_part('epoch', bucket) * 1000)::bigint - \(from)) / \(step) AS b
                        FROM \(unescaped: rollup)
                        WHERE metric = \(metric) AND label = '' AND count > 0
                          AND bucket >= to_timestamp(\(Double(from) / 1000)) AND bucket < to_timestamp(\(Double(to) / 1000))
                          AND (\(worker)::text IS NULL OR worker = \(worker)::text)) q
                    GROUP BY b
                    """
            }
            for try await (w, b, v) in try await client.query(sql, logger: logger).decode((String, Int64, Double).self) {
                guard b >= 0, b < count else { continue }
                for name in w.split(separator: ",") { workers.insert(String(name)) }
                values[Int(b)] = query.metric == .consumerLag ? (values[Int(b)] ?? 0) + v : v
            }
        }
        return MetricsSeries(values: values, workers: workers.sorted(), source: "postgresql")
    }
}
