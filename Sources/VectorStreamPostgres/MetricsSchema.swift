import Foundation
import Logging
import PostgresNIO
import VectorStreamCore

/// How the points are kept, decided once by probing `pg_available_extensions` when the schema is created.
public enum MetricsStorage: String, Sendable {
    /// A TimescaleDB hypertable with compression and retention policies and a continuous aggregate.
    case timescale = "timescaledb"
    /// Native range partitions by day (BRIN on time), created ahead and dropped by the workers.
    case partitioned
}

/// What a migration did.
public struct MigrationReport: Sendable {
    public var applied: [Int]
    public var version: Int
    public var storage: MetricsStorage
}

/// What one maintenance pass did; `.skipped` when another worker held the lock (it is doing the same).
public enum MaintenanceOutcome: Sendable, Equatable {
    case done(created: [String], dropped: [String])
    case skipped
}

/// The metrics history's schema: versioned migrations in `vectorstream_schema_migrations`, applied under a
/// transaction-scoped advisory lock so workers starting at once apply each version once; and the upkeep of day
/// partitions (native branch), one worker at a time under the same lock taken with `pg_try_advisory_lock`.
public enum MetricsSchema {
    public static let points = "vectorstream_metric_points"
    public static let rollup = "vectorstream_metric_rollup_1m"
    /// The same sums in 5-minute buckets (migration 2): a day-long chart reads a fifth of the rows.
    public static let rollup5m = "vectorstream_metric_rollup_5m"
    /// Both rollups, finest first, with their bucket widths: the writer keeps both in one transaction.
    static let rollups: [(table: String, bucketMillis: Int64)] = [(rollup, 60_000), (rollup5m, 300_000)]
    /// TimescaleDB only: the continuous aggregate over the points (for ad-hoc and Grafana queries).
    public static let continuousAggregate = "vectorstream_metric_points_1m"
    public static let migrations = "vectorstream_schema_migrations"
    /// The advisory lock's key: "VSMETRIC" in ASCII.
    static let lockKey: Int64 = 0x5653_4D45_5452_4943
    /// Day partitions created ahead of today.
    static let daysAhead = 2

    /// Creates or upgrades the schema (idempotent). Safe when several workers run it at once: the second waits for
    /// the first's transaction and then finds every version applied.
    public static func migrate(_ client: PostgresClient, retention: Duration, logger: Logger) async throws -> MigrationReport {
        let report = try await client.withTransaction(logger: logger) { connection -> MigrationReport in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: """
                CREATE TABLE IF NOT EXISTS \(migrations) (
                    version integer PRIMARY KEY,
                    description text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """), logger: logger)
            var applied: [Int: String] = [:]
            for try await (version, description) in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT version, description FROM \(migrations)"), logger: logger).decode((Int, String).self) {
                applied[version] = description
            }
            var done: [Int] = []
            let storage: MetricsStorage
            if let v1 = applied[1] {
                storage = v1.contains(MetricsStorage.timescale.rawValue) ? .timescale : .partitioned
            } else {
                var available = false
                for try await (n) in try await connection.query(
                    "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'", logger: logger).decode(Int64.self) {
                    available = n > 0
                }
                storage = available ? .timescale : .partitioned
                let statements = storage == .timescale ? timescaleV1(retention: retention) : partitionedV1
                for sql in statements { try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
                let description = "metric points and 1-minute rollup (\(storage.rawValue))"
                try await connection.query("INSERT INTO vectorstream_schema_migrations (version, description) VALUES (1, \(description))",
                                           logger: logger)
                done.append(1)
            }
            if applied[2] == nil {
                // Migration 2: the 5-minute rollup, filled from the 1-minute one (the same sums, coarser).
                if storage == .partitioned {
                    try await connection.query(PostgresQuery(unsafeSQL: rollupTable(rollup5m, partitioned: true)), logger: logger)
                    // A partition for every day the 1-minute rollup holds, so the history already kept is copied.
                    let days = """
                        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                        WHERE p.relname = '\(rollup)'
                        """
                    var starts: [EpochMillis] = []
                    for try await name in try await connection.query(PostgresQuery(unsafeSQL: days), logger: logger).decode(String.self) {
                        if let start = dayStart(ofPartition: name) { starts.append(start) }
                    }
                    for start in starts {
                        try await connection.query(PostgresQuery(unsafeSQL: partitionSQL(rollup5m, dayStart: start).sql), logger: logger)
                    }
                } else {
                    try await connection.query(PostgresQuery(unsafeSQL: rollupTable(rollup5m, partitioned: false)), logger: logger)
                }
                try await connection.query(PostgresQuery(unsafeSQL: fill5mFrom1m), logger: logger)
                try await connection.query("INSERT INTO vectorstream_schema_migrations (version, description) VALUES (2, '5-minute rollup')",
                                           logger: logger)
                done.append(2)
            }
            if storage == .partitioned {
                // Today's and the next days' partitions, so the first write has somewhere to go.
                for sql in createPartitions(now: wallClockMillis()).map(\.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                }
            }
            return MigrationReport(applied: done, version: 2, storage: storage)
        }
        return report
    }

    /// The 5-minute rollup computed from the 1-minute one (migration 2's backfill, and the benchmark's fill).
    static let fill5mFrom1m = """
        INSERT INTO \(rollup5m) (bucket, worker, metric, label, sum, count, max, covered_ms, last_time, last_value)
        SELECT to_timestamp(floor(date_part('epoch', bucket) / 300) * 300), worker, metric, label,
               sum(sum), sum(count), max(max), sum(covered_ms), max(last_time),
               (array_agg(last_value ORDER BY last_time DESC NULLS LAST))[1]
        FROM \(rollup) GROUP BY 1, worker, metric, label
        """

    /// The points' columns, the same in both branches.
    static let pointsColumns = """
        time timestamptz NOT NULL, worker text NOT NULL, metric text NOT NULL, label text NOT NULL DEFAULT '',
        value double precision NOT NULL, span_ms integer NOT NULL DEFAULT 0
        """

    static let partitionedV1: [String] = [
        """
        CREATE TABLE \(points) (\(pointsColumns)) PARTITION BY RANGE (time)
        """,
        // Without autosummarize the newest block ranges stay unsummarised until a VACUUM, and a last-hour query
        // reads whole partitions.
        "CREATE INDEX \(points)_time_brin ON \(points) USING brin (time) WITH (autosummarize = on)",
        "CREATE INDEX \(points)_metric_time ON \(points) (metric, time)",
        rollupTable(rollup, partitioned: true),
    ]

    static func rollupTable(_ name: String, partitioned: Bool) -> String {
        """
        CREATE TABLE \(name) (
            bucket timestamptz NOT NULL,
            worker text NOT NULL,
            metric text NOT NULL,
            label text NOT NULL DEFAULT '',
            sum double precision NOT NULL DEFAULT 0,
            count bigint NOT NULL DEFAULT 0,
            max double precision,
            covered_ms bigint NOT NULL DEFAULT 0,
            last_time timestamptz,
            last_value double precision,
            PRIMARY KEY (metric, label, worker, bucket)
        )\(partitioned ? " PARTITION BY RANGE (bucket)" : "")
        """
    }

    /// TimescaleDB's documented calls: create_hypertable with by_range, compression settings and policy,
    /// retention policy, and a continuous aggregate over time_bucket with its refresh policy. The rollup table
    /// the API reads exists in both branches, so both answer the same.
    static func timescaleV1(retention: Duration) -> [String] {
        let seconds = max(60, retention.components.seconds)
        return [
            "CREATE EXTENSION IF NOT EXISTS timescaledb",
            """
            CREATE TABLE \(points) (\(pointsColumns))
            """,
            "SELECT create_hypertable('\(points)', by_range('time', INTERVAL '1 day'))",
            "CREATE INDEX \(points)_metric_time ON \(points) (metric, time DESC)",
            "ALTER TABLE \(points) SET (timescaledb.compress, timescaledb.compress_segmentby = 'metric, worker', timescaledb.compress_orderby = 'time DESC')",
            "SELECT add_compression_policy('\(points)', compress_after => INTERVAL '7 days')",
            "SELECT add_retention_policy('\(points)', drop_after => INTERVAL '\(seconds) seconds')",
            """
            CREATE MATERIALIZED VIEW \(continuousAggregate) WITH (timescaledb.continuous) AS
            SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, worker, metric, label,
                   sum(value) AS sum, count(*) AS count, max(value) AS max
            FROM \(points) GROUP BY bucket, worker, metric, label WITH NO DATA
            """,
            "SELECT add_continuous_aggregate_policy('\(continuousAggregate)', start_offset => INTERVAL '1 hour', end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute')",
            rollupTable(rollup, partitioned: false),
        ]
    }

    /// `vectorstream_metric_points_p20250131` for the day starting at `dayStart` (UTC).
    static func partitionName(_ table: String, dayStart: EpochMillis) -> String {
        let c = Calendar.utc.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(dayStart) / 1000))
        return String(format: "%@_p%04d%02d%02d", table, c.year!, c.month!, c.day!)
    }

    static func timestampLiteral(_ t: EpochMillis) -> String {
        let c = Calendar.utc.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(t) / 1000))
        return String(format: "%04d-%02d-%02d 00:00:00+00", c.year!, c.month!, c.day!)
    }

    /// The CREATE statements of the partitions from today to `daysAhead` days ahead, for both tables.
    static func createPartitions(now: EpochMillis) -> [(name: String, sql: String)] {
        let today = floorDiv(now, 86_400_000) * 86_400_000
        var out: [(String, String)] = []
        for day in 0...daysAhead {
            let start = today + Int64(day) * 86_400_000
            for table in [points] + rollups.map(\.table) { out.append(partitionSQL(table, dayStart: start)) }
        }
        return out
    }

    /// The CREATE statement of `table`'s partition for the day starting at `dayStart`.
    static func partitionSQL(_ table: String, dayStart start: EpochMillis) -> (name: String, sql: String) {
        let name = partitionName(table, dayStart: start)
        return (name, "CREATE TABLE IF NOT EXISTS \(name) PARTITION OF \(table) FOR VALUES FROM ('\(timestampLiteral(start))') TO ('\(timestampLiteral(start + 86_400_000))')")
    }

    /// One upkeep pass, by whichever worker gets the lock first (the others skip): creates the partitions ahead
    /// and drops, one statement at a time, each partition whose whole day is older than the retention. With
    /// TimescaleDB the retention policy drops chunks; the rollup's old rows are deleted here.
    public static func maintain(_ client: PostgresClient, retention: Duration, now: EpochMillis = wallClockMillis(),
                                logger: Logger) async throws -> MaintenanceOutcome {
        try await client.withConnection { connection in
            var got = false
            for try await locked in try await connection.query("SELECT pg_try_advisory_lock(\(lockKey))", logger: logger).decode(Bool.self) {
                got = locked
            }
            guard got else { return .skipped }
            do {
                let outcome = try await maintainLocked(connection, retention: retention, now: now, logger: logger)
                try await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                return outcome
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                throw error
            }
        }
    }

    static func maintainLocked(_ connection: PostgresConnection, retention: Duration, now: EpochMillis,
                               logger: Logger) async throws -> MaintenanceOutcome {
        var storage = MetricsStorage.partitioned
        for try await description in try await connection.query(
            "SELECT description FROM vectorstream_schema_migrations WHERE version = 1", logger: logger).decode(String.self) {
            storage = description.contains(MetricsStorage.timescale.rawValue) ? .timescale : .partitioned
        }
        let cutoff = now - Int64(retention.components.seconds) * 1000
        if storage == .timescale {
            for table in rollups.map(\.table) {
                try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE bucket < to_timestamp(\(Double(cutoff) / 1000))"),
                                           logger: logger)
            }
            return .done(created: [], dropped: [])
        }
        var existing = Set<String>()
        let list = """
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname IN ('\(points)', '\(rollup)', '\(rollup5m)')
            """
        for try await name in try await connection.query(PostgresQuery(unsafeSQL: list), logger: logger).decode(String.self) {
            existing.insert(name)
        }
        var created: [String] = []
        for (name, sql) in createPartitions(now: now) where !existing.contains(name) {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            created.append(name)
        }
        var dropped: [String] = []
        for name in existing.sorted() {
            guard let dayStart = dayStart(ofPartition: name), dayStart + 86_400_000 <= cutoff else { continue }
            // One partition per statement: each DROP holds the parent's lock only briefly.
            try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(name)"), logger: logger)
            dropped.append(name)
        }
        if !created.isEmpty || !dropped.isEmpty {
            logger.info("metrics store: partitions maintained", metadata: ["created": "\(created.count)", "dropped": "\(dropped)"])
        }
        return .done(created: created, dropped: dropped)
    }

    /// The day a partition holds, from its name's `_pYYYYMMDD` suffix.
    static func dayStart(ofPartition name: String) -> EpochMillis? {
        guard let r = name.range(of: "_p", options: .backwards) else { return nil }
        let digits = name[r.upperBound...]
        guard digits.count == 8, let y = Int(digits.prefix(4)), let m = Int(digits.dropFirst(4).prefix(2)),
              let d = Int(digits.suffix(2)),
              let date = Calendar.utc.date(from: DateComponents(year: y, month: m, day: d)) else { return nil }
        return EpochMillis(date.timeIntervalSince1970 * 1000)
    }
}

extension Calendar {
    static let utc: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()
}

extension MetricsSchema {
    /// `vectorstream migrate`: connects, applies the migrations, does one upkeep pass and disconnects. Errors
    /// name the endpoint with its password masked.
    public static func migrateOnce(url: String, retention: Duration, timeout: Duration = .seconds(30),
                                   logger: Logger = Logger(label: "vectorstream.postgres")) async throws
        -> (endpoint: PostgresEndpoint, report: MigrationReport, maintenance: MaintenanceOutcome) {
        let endpoint = try PostgresEndpoint(url: url)
        let client = PostgresClient(configuration: endpoint.clientConfiguration())
        let running = Task { await client.run() }
        defer { running.cancel() }
        do {
            return try await withTimeout(timeout) {
                let report = try await migrate(client, retention: retention, logger: logger)
                let maintenance = try await maintain(client, retention: retention, logger: logger)
                return (endpoint, report, maintenance)
            }
        } catch {
            throw ConfigurationError("PostgreSQL at \(endpoint) is not usable: \(PostgresMetricsStore.describe(error))")
        }
    }
}
