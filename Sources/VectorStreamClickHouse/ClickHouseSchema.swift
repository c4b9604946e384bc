import Foundation
import VectorStreamCore

/// Column types that differ between old servers (Debian's 18.16) and current ones.
///
/// Chosen once from the server version when tables are created; afterwards the store reads the types the
/// tables really have, so a server upgraded in place keeps working with its old tables.
public struct ClickHouseColumnTypes: Sendable, Hashable {
    /// `DateTime64(3)` where it exists, else `DateTime` (seconds; the exact millis are in `ts_ms` anyway).
    public var dateTime: String
    /// `LowCardinality(String)` where it is a plain type, else `String`.
    public var dictionaryString: String

    public init(version: ClickHouseVersion) {
        dateTime = version.hasDateTime64 ? "DateTime64(3)" : "DateTime"
        dictionaryString = version.hasLowCardinality ? "LowCardinality(String)" : "String"
    }

    public init(dateTime: String, dictionaryString: String) {
        self.dateTime = dateTime
        self.dictionaryString = dictionaryString
    }

    var millisecondTimes: Bool { dateTime.hasPrefix("DateTime64") }
}

/// One step of the schema, applied once and recorded in `schema_migrations`.
public struct ClickHouseMigration: Sendable {
    public var version: Int
    public var description: String
    /// Every statement is idempotent (`IF NOT EXISTS`, or a backfill that skips what is there), so a step
    /// interrupted halfway is simply run again.
    public var statements: [String]
    /// Columns added to existing tables, before `statements`, each only where the table lacks it: 18.16 has no
    /// `ADD COLUMN IF NOT EXISTS`.
    public var addedColumns: [AddedColumn] = []

    public struct AddedColumn: Sendable, Hashable {
        public var table: String
        public var name: String
        /// Type and default, as after the name in `ALTER TABLE ... ADD COLUMN name ...`.
        public var definition: String
    }
}

/// The tables, the materialized views that keep the aggregates current, and the migrations that create them.
///
/// Layout (see docs/clickhouse.md for why):
/// - `events`: every stored event once per source position; ReplacingMergeTree keyed by the position.
/// - `event_positions`: the positions already stored, so a replayed batch is recognised before it is inserted.
/// - `product_stats`, `category_stats` (SummingMergeTree): per-minute and per-hour buckets written by
///   materialized views on `events`.
/// - `funnel_segments` (CollapsingMergeTree): per funnel step and session, segments of its history up to its
///   latest such event, written by the sink.
/// - `user_interactions`: events ordered by user, for recommendations.
/// - `products`: latest name, category, price and description per product, written by the sink.
public struct ClickHouseSchema: Sendable {
    public let database: String
    public let types: ClickHouseColumnTypes

    /// The bucket sizes of the aggregate tables, in seconds. A query reads the coarsest buckets that fit.
    static let granularities = [60, 3600]

    public init(database: String, types: ClickHouseColumnTypes) {
        self.database = database
        self.types = types
    }

    func table(_ name: String) -> String { "\(quoteIdentifier(database)).\(name)" }

    /// Event types as an Enum8: one byte per row on disk and in RowBinary, valid SQL literals on every version.
    static func enumCode(_ type: EventType) -> Int8 {
        switch type {
        case .view: 1
        case .addToCart: 2
        case .removeFromCart: 3
        case .purchase: 4
        case .wishlistAdd: 5
        case .search: 6
        }
    }

    static var eventTypeEnum: String {
        "Enum8(" + EventType.allCases.map { "'\($0.rawValue)' = \(enumCode($0))" }.joined(separator: ", ") + ")"
    }

    public var migrations: [ClickHouseMigration] {
        let t = types
        let e = Self.eventTypeEnum
        var first: [String] = [
            """
            CREATE TABLE IF NOT EXISTS \(table("events")) (
                event_id String,
                ts_ms Int64,
                event_time \(t.dateTime),
                user_id String,
                session_id String,
                event_type \(e),
                product_id String,
                product_name String,
                category \(t.dictionaryString),
                price Float64,
                raw String,
                source_topic \(t.dictionaryString),
                source_partition Int32,
                source_offset Int64,
                ingest_time \(t.dateTime)
            ) ENGINE = ReplacingMergeTree
            PARTITION BY toYYYYMM(event_time)
            ORDER BY (event_type, ts_ms, source_topic, source_partition, source_offset)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(table("event_positions")) (
                source_topic \(t.dictionaryString),
                source_partition Int32,
                source_offset Int64
            ) ENGINE = ReplacingMergeTree
            ORDER BY (source_topic, source_partition, source_offset)
            """,
            """
            CREATE MATERIALIZED VIEW IF NOT EXISTS \(table("event_positions_mv")) TO \(table("event_positions"))
            AS SELECT source_topic, source_partition, source_offset FROM \(table("events"))
            """,
            """
            CREATE TABLE IF NOT EXISTS \(table("products")) (
                product_id String,
                name String,
                category \(t.dictionaryString),
                price Float64,
                updated_ms Int64
            ) ENGINE = ReplacingMergeTree(updated_ms)
            ORDER BY product_id
            """,
            """
            CREATE TABLE IF NOT EXISTS \(table("product_stats")) (
                granularity UInt32,
                bucket DateTime,
                event_type \(e),
                product_id String,
                events UInt64,
                revenue Float64
            ) ENGINE = SummingMergeTree
            PARTITION BY toYYYYMM(bucket)
            ORDER BY (granularity, event_type, bucket, product_id)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(table("category_stats")) (
                granularity UInt32,
                bucket DateTime,
                category \(t.dictionaryString),
                event_type \(e),
                events UInt64,
                revenue Float64
            ) ENGINE = SummingMergeTree
            PARTITION BY toYYYYMM(bucket)
            ORDER BY (granularity, bucket, category, event_type)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(table("session_funnel")) (
                granularity UInt32,
                bucket DateTime,
                event_type \(e),
                sessions AggregateFunction(uniqExact, UInt64)
            ) ENGINE = AggregatingMergeTree
            PARTITION BY toYYYYMM(bucket)
            ORDER BY (granularity, event_type, bucket)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(table("user_interactions")) (
                user_id String,
                ts_ms Int64,
                event_type \(e),
                product_id String,
                source_topic \(t.dictionaryString),
                source_partition Int32,
                source_offset Int64
            ) ENGINE = ReplacingMergeTree
            PARTITION BY toYYYYMM(toDateTime(intDiv(ts_ms, 1000)))
            ORDER BY (user_id, ts_ms, source_topic, source_partition, source_offset)
            """,
            """
            CREATE MATERIALIZED VIEW IF NOT EXISTS \(table("user_interactions_mv")) TO \(table("user_interactions"))
            AS SELECT user_id, ts_ms, event_type, product_id, source_topic, source_partition, source_offset
            FROM \(table("events"))
            """,
        ]
        for g in Self.granularities {
            let suffix = g == 60 ? "minute" : "hour"
            let bucket = "toDateTime(intDiv(ts_ms, \(g * 1000)) * \(g))"
            first += [
                """
                CREATE MATERIALIZED VIEW IF NOT EXISTS \(table("product_stats_\(suffix)_mv")) TO \(table("product_stats"))
                AS SELECT toUInt32(\(g)) AS granularity, \(bucket) AS bucket, event_type, product_id,
                    count() AS events, sum(price) AS revenue
                FROM \(table("events")) GROUP BY bucket, event_type, product_id
                """,
                """
                CREATE MATERIALIZED VIEW IF NOT EXISTS \(table("category_stats_\(suffix)_mv")) TO \(table("category_stats"))
                AS SELECT toUInt32(\(g)) AS granularity, \(bucket) AS bucket, category, event_type,
                    count() AS events, sum(price) AS revenue
                FROM \(table("events")) GROUP BY bucket, category, event_type
                """,
                """
                CREATE MATERIALIZED VIEW IF NOT EXISTS \(table("session_funnel_\(suffix)_mv")) TO \(table("session_funnel"))
                AS SELECT toUInt32(\(g)) AS granularity, \(bucket) AS bucket, event_type,
                    uniqExactState(sipHash64(session_id)) AS sessions
                FROM \(table("events")) WHERE event_type IN ('view', 'add_to_cart', 'purchase')
                GROUP BY bucket, event_type
                """,
            ]
        }
        let steps = table("session_steps")
        let funnelSteps = "event_type IN ('view', 'add_to_cart', 'purchase')"
        let stepsSelect = """
            SELECT event_type, sipHash64(session_id) AS session_key, max(ts_ms) AS last_ms
            FROM \(table("events")) WHERE \(funnelSteps) GROUP BY event_type, session_key
            """
        let second: [String] = [
            """
            CREATE TABLE IF NOT EXISTS \(steps) (
                event_type \(e),
                session_key UInt64,
                last_ms Int64
            ) ENGINE = ReplacingMergeTree(last_ms)
            PARTITION BY toYYYYMMDD(toDateTime(intDiv(last_ms, 1000)))
            ORDER BY (event_type, session_key)
            """,
            "CREATE MATERIALIZED VIEW IF NOT EXISTS \(table("session_steps_mv")) TO \(steps) AS \(stepsSelect)",
            // Backfill after the view exists, so no event is missed; rows written twice collapse by key.
            "INSERT INTO \(steps) \(stepsSelect)",
            "DROP TABLE IF EXISTS \(table("session_funnel_minute_mv"))",
            "DROP TABLE IF EXISTS \(table("session_funnel_hour_mv"))",
            "DROP TABLE IF EXISTS \(table("session_funnel"))",
        ]
        // The same rows under one 64-bit key, the step in its top two bits and 62 bits of the session hash below:
        // FINAL then merges a single integer column, which on 18.16 costs about 60 % of the per-row time of the
        // (step, session) key, and each step is a key range the primary index selects.
        let sessions = table("funnel_sessions")
        let stepIndex = "multiIf(" + Self.funnelSteps.dropLast().enumerated().map { index, step in
            "event_type = '\(step.rawValue)', \(index)"
        }.joined(separator: ", ") + ", \(Self.funnelSteps.count - 1))"
        let sessionsSelect = """
            SELECT bitOr(bitShiftLeft(toUInt64(\(stepIndex)), 62), bitShiftRight(sipHash64(session_id), 2)) AS step_session,
                max(ts_ms) AS last_ms
            FROM \(table("events")) WHERE \(funnelSteps) GROUP BY step_session
            """
        let third: [String] = [
            """
            CREATE TABLE IF NOT EXISTS \(sessions) (
                step_session UInt64,
                last_ms Int64
            ) ENGINE = ReplacingMergeTree(last_ms)
            PARTITION BY toYYYYMMDD(toDateTime(intDiv(last_ms, 1000)))
            ORDER BY step_session
            """,
            "CREATE MATERIALIZED VIEW IF NOT EXISTS \(table("funnel_sessions_mv")) TO \(sessions) AS \(sessionsSelect)",
            // Backfill from `events`, which every version has; rows written twice collapse by key.
            "INSERT INTO \(sessions) \(sessionsSelect)",
            "DROP TABLE IF EXISTS \(table("session_steps_mv"))",
            "DROP TABLE IF EXISTS \(table("session_steps"))",
        ]
        // Segments of each (step, session)'s history (see `FunnelSegments`), written by the sink, not by a view:
        // each row needs the key's previous state. Filled from `funnel_sessions`, one first segment per key,
        // skipping keys already there, so a migration interrupted halfway and run again adds only what is missing.
        let segments = table("funnel_segments")
        let fourth: [String] = [
            """
            CREATE TABLE IF NOT EXISTS \(segments) (
                step_session UInt64,
                prev_ms Int64,
                last_ms Int64,
                sign Int8
            ) ENGINE = CollapsingMergeTree(sign)
            ORDER BY (step_session, last_ms)
            """,
            """
            INSERT INTO \(segments) (step_session, prev_ms, last_ms, sign)
            SELECT step_session, toInt64(\(FunnelSegments.noPrevious)), max(last_ms), toInt8(1) FROM \(sessions)
            WHERE step_session NOT IN (SELECT step_session FROM \(segments)) GROUP BY step_session
            """,
            "DROP TABLE IF EXISTS \(table("funnel_sessions_mv"))",
            "DROP TABLE IF EXISTS \(sessions)",
        ]
        return [
            ClickHouseMigration(version: 1, description: "events, positions, aggregates and their views",
                                statements: first),
            ClickHouseMigration(version: 2, description: "session funnel from per-session last step times",
                                statements: second),
            ClickHouseMigration(version: 3, description: "session funnel keyed by one integer per step and session",
                                statements: third),
            ClickHouseMigration(version: 4, description: "session funnel as segments of each session's history",
                                statements: fourth),
            // With the raw JSON optional, the description is the one field of an event no events column holds; it
            // belongs to the product anyway, so it is kept with the latest name, category and price.
            ClickHouseMigration(version: 5, description: "product descriptions", statements: [],
                                addedColumns: [.init(table: "products", name: "description",
                                                     definition: "String DEFAULT ''")]),
        ]
    }

    public var latestVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// The funnel's steps, in order; a step's index is the top two bits of its `funnel_segments` keys.
    public static let funnelSteps: [EventType] = [.view, .addToCart, .purchase]

    /// The `funnel_segments` keys of the step at `index` in `funnelSteps`: the index in the top two bits, any
    /// session hash below.
    public static func funnelKeyRange(stepIndex index: Int) -> ClosedRange<UInt64> {
        precondition(funnelSteps.indices.contains(index), "not a funnel step index: \(index)")
        let top = UInt64(index) << 62
        return top...(top | (UInt64.max >> 2))
    }

    /// Names of every table and view, for tests and `migrate --print`.
    public static let tableNames = ["events", "event_positions", "products", "product_stats", "category_stats",
                                    "funnel_segments", "user_interactions"]
}

/// What `migrate` did.
public struct ClickHouseMigrationReport: Sendable, Hashable {
    public var serverVersion: ClickHouseVersion
    public var applied: [Int]
    public var currentVersion: Int
}

extension ClickHouseClient {
    /// Creates the database and applies every migration not yet recorded. Safe to run again: statements are
    /// idempotent and versions are read back de-duplicated. From several workers at once too, except migration 4
    /// on a database that has funnel data: two of its backfills running together would both write first segments
    /// (docs/clickhouse.md: migrate once before starting more workers).
    ///
    /// Workers starting together race through the same steps (ClickHouse has no lock to serialise them): one may
    /// drop or replace a table the other's step still uses. Every statement is idempotent, so a failed pass waits
    /// a moment, reads the recorded versions again and goes on from there (the other worker's work counts), up to
    /// five passes.
    public func migrate(database: String) async throws -> (ClickHouseSchema, ClickHouseMigrationReport) {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await migrateOnce(database: database)
            } catch let error as ClickHouseError where attempt < 5 {
                try await Task.sleep(for: .milliseconds(Int64.random(in: 300...1200)))
                _ = error
            }
        }
    }

    private func migrateOnce(database: String) async throws -> (ClickHouseSchema, ClickHouseMigrationReport) {
        let version = try await serverVersion()
        let db = quoteIdentifier(database)
        try await execute("CREATE DATABASE IF NOT EXISTS \(db)")
        try await execute("""
            CREATE TABLE IF NOT EXISTS \(db).schema_migrations (
                version UInt32,
                description String,
                applied_at DateTime
            ) ENGINE = ReplacingMergeTree ORDER BY version
            """)
        let done = Set(try await rows("SELECT DISTINCT version FROM \(db).schema_migrations").compactMap { Int($0[0]) })
        // Tables that exist keep their types; new ones get the best types this server has.
        var types = ClickHouseColumnTypes(version: version)
        if let existing = try await columnTypes(database: database) { types = existing }
        let schema = ClickHouseSchema(database: database, types: types)
        var applied: [Int] = []
        for migration in schema.migrations.sorted(by: { $0.version < $1.version }) where !done.contains(migration.version) {
            for column in migration.addedColumns { try await add(column, in: schema) }
            for statement in migration.statements { try await execute(statement) }
            try await execute("""
                INSERT INTO \(db).schema_migrations (version, description, applied_at)
                VALUES (\(migration.version), \(TabSeparated.quote(migration.description)), now())
                """)
            applied.append(migration.version)
        }
        // Every pass ends by dropping what the migrations retired (their `DROP TABLE IF EXISTS`, idempotent, and no
        // later migration creates those objects again). Two workers migrating at once can interleave so that one
        // re-creates a retired view (migration 3's `funnel_sessions_mv`) after the other dropped it and the table it
        // writes to; every insert into `events` then failed with "Table funnel_sessions doesn't exist", for good,
        // since the retry found every version recorded (fault suite, two-workers, 30 November).
        for migration in schema.migrations {
            for statement in migration.statements where statement.hasPrefix("DROP TABLE IF EXISTS") {
                try await execute(statement)
            }
        }
        let current = (done.union(applied)).max() ?? 0
        return (schema, ClickHouseMigrationReport(serverVersion: version, applied: applied, currentVersion: current))
    }

    /// Adds `column` unless the table has it. Another worker migrating at the same moment may add it between
    /// the check and the ALTER: its refusal is then fine.
    func add(_ column: ClickHouseMigration.AddedColumn, in schema: ClickHouseSchema) async throws {
        func present() async throws -> Bool {
            try await scalar("""
                SELECT count() FROM system.columns WHERE database = \(TabSeparated.quote(schema.database))
                AND table = \(TabSeparated.quote(column.table)) AND name = \(TabSeparated.quote(column.name))
                """) != "0"
        }
        guard try await !present() else { return }
        do {
            try await execute("""
                ALTER TABLE \(schema.table(column.table)) ADD COLUMN \(quoteIdentifier(column.name)) \(column.definition)
                """)
        } catch {
            if try await present() { return }
            throw error
        }
    }

    /// The types the events table really has, or nil when it does not exist yet.
    func columnTypes(database: String) async throws -> ClickHouseColumnTypes? {
        let rows = try await rows("""
            SELECT name, type FROM system.columns
            WHERE database = \(TabSeparated.quote(database)) AND table = 'events' AND name IN ('event_time', 'category')
            """)
        var byName: [String: String] = [:]
        for row in rows where row.count == 2 { byName[row[0]] = row[1] }
        guard let dateTime = byName["event_time"], let category = byName["category"] else { return nil }
        return ClickHouseColumnTypes(dateTime: dateTime, dictionaryString: category)
    }
}

/// Backquotes an identifier (database names come from configuration).
func quoteIdentifier(_ name: String) -> String {
    "`" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "`", with: "\\`") + "`"
}
