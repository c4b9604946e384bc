import Logging
import NIOCore
import Synchronization
import VectorStreamCore

/// Processed events and the analytics over them, in ClickHouse.
///
/// Writes: each batch is checked against `event_positions` and only positions never stored are inserted,
/// so the materialized views that keep the aggregates current see every record once, however often a
/// source range is replayed. The `events` table is also a ReplacingMergeTree on the position, so even a
/// duplicate that slipped past the check (two workers during a rebalance) is merged away in the base table.
///
/// Reads: an answer "since T" adds three slices, each exact: raw events from T to the next whole minute,
/// per-minute buckets up to the next whole hour, and per-hour buckets after that. The session funnel reads
/// segments of each session's history instead (distinct counts do not add up across buckets).
public final class ClickHouseEventStore: EventSink, AnalyticsStore, HealthCheckable {
    public let client: ClickHouseClient
    public let dependencyName = "clickhouse"
    private let database: String
    private let logger: Logger
    private let prepared = Mutex<ClickHouseSchema?>(nil)

    public init(configuration: ClickHouseConfiguration, logger: Logger = Logger(label: "vectorstream.clickhouse")) {
        client = ClickHouseClient(configuration: configuration, logger: logger)
        database = configuration.database
        self.logger = logger
    }

    /// Creates or updates the schema (idempotent). Called at start; the first store or query calls it otherwise.
    @discardableResult
    public func prepare() async throws -> ClickHouseMigrationReport {
        let (schema, report) = try await client.migrate(database: database)
        prepared.withLock { $0 = schema }
        if !report.applied.isEmpty {
            logger.info("ClickHouse schema migrated", metadata: [
                "server": "\(report.serverVersion)", "applied": "\(report.applied)",
                "dateTime": "\(schema.types.dateTime)", "strings": "\(schema.types.dictionaryString)",
            ])
        }
        return report
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }

    private func schema() async throws -> ClickHouseSchema {
        if let schema = prepared.withLock({ $0 }) { return schema }
        try await prepare()
        guard let schema = prepared.withLock({ $0 }) else {
            throw ClickHouseError.malformedResult("schema not prepared")
        }
        return schema
    }

    // MARK: EventSink

    static let eventColumns = ["event_id", "ts_ms", "event_time", "user_id", "session_id", "event_type",
                               "product_id", "product_name", "category", "price", "raw", "source_topic",
                               "source_partition", "source_offset", "ingest_time"]

    /// Stores the events whose source positions are not stored yet, and the funnel segments of the batch (both
    /// at once: neither depends on the other). Idempotent: a replayed batch inserts nothing.
    public func store(_ events: [AcceptedEvent]) async throws {
        guard !events.isEmpty else { return }
        let schema = try await schema()
        async let segments: Void = storeFunnelSegments(of: events, schema: schema)
        try await storeEvents(events, schema: schema)
        try await segments
    }

    private func storeEvents(_ events: [AcceptedEvent], schema: ClickHouseSchema) async throws {
        let stored = try await storedPositions(of: events, schema: schema)
        var seen = Set<SourcePosition>(minimumCapacity: events.count)
        var fresh: [AcceptedEvent] = []
        fresh.reserveCapacity(events.count)
        for event in events where !stored.contains(event.position) && seen.insert(event.position).inserted {
            fresh.append(event)
        }
        if fresh.count < events.count {
            logger.debug("skipped already stored positions", metadata: ["skipped": "\(events.count - fresh.count)"])
        }
        guard !fresh.isEmpty else { return }

        // Products first: an aggregate never names a product the products table does not know.
        try await insertProducts(fresh, schema: schema)
        let ingestMillis = wallClockMillis()
        // The server parses one INSERT on one thread: a batch goes as `insertConcurrency` concurrent inserts.
        let parts = max(1, min(client.configuration.insertConcurrency, fresh.count / 5_000))
        let chunk = min(max(client.configuration.maxRowsPerInsert, 1), (fresh.count + parts - 1) / parts)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var start = 0
            var running = 0
            while start < fresh.count {
                let end = min(start + chunk, fresh.count)
                let slice = fresh[start..<end]
                if running == parts {
                    try await group.next()
                    running -= 1
                }
                group.addTask { try await self.insertEvents(slice, ingestMillis: ingestMillis, schema: schema) }
                running += 1
                start = end
            }
            try await group.waitForAll()
        }
    }

    private func insertEvents(_ events: ArraySlice<AcceptedEvent>, ingestMillis: Int64,
                              schema: ClickHouseSchema) async throws {
        let millis = schema.types.millisecondTimes
        let keepRaw = client.configuration.storeRawJSON
        var writer = RowBinaryWriter(capacity: events.reduce(0) { $0 + (keepRaw ? $1.raw.count : 0) + 160 })
        for accepted in events {
            let e = accepted.event
            writer.string(e.eventID)
            writer.int64(e.timestamp)
            writer.dateTime(millis: e.timestamp, millisecondPrecision: millis)
            writer.string(e.userID)
            writer.string(e.sessionID)
            writer.int8(ClickHouseSchema.enumCode(e.type))
            writer.string(e.product.id)
            writer.string(e.product.name)
            writer.string(e.product.category)
            writer.float64(e.product.price)
            if keepRaw { writer.bytes(accepted.raw) } else { writer.bytes([]) }
            writer.string(accepted.position.topic)
            writer.int32(accepted.position.partition)
            writer.int64(accepted.position.offset)
            writer.dateTime(millis: ingestMillis, millisecondPrecision: millis)
        }
        try await client.insert(into: schema.table("events"), columns: Self.eventColumns, rowBinary: writer.buffer)
    }

    private func insertProducts(_ events: [AcceptedEvent], schema: ClickHouseSchema) async throws {
        var latest: [String: (product: Product, at: Int64)] = [:]
        for accepted in events {
            let e = accepted.event
            if let known = latest[e.product.id], known.at > e.timestamp { continue }
            latest[e.product.id] = (e.product, e.timestamp)
        }
        var writer = RowBinaryWriter(capacity: latest.count * 256)
        for (_, entry) in latest {
            writer.string(entry.product.id)
            writer.string(entry.product.name)
            writer.string(entry.product.category)
            writer.float64(entry.product.price)
            writer.string(entry.product.description)
            writer.int64(entry.at)
        }
        try await client.insert(into: schema.table("products"),
                                columns: ["product_id", "name", "category", "price", "description", "updated_ms"],
                                rowBinary: writer.buffer)
    }

    /// The positions of `events` that are already stored, read by (topic, partition, offset range).
    func storedPositions(of events: [AcceptedEvent], schema: ClickHouseSchema) async throws -> Set<SourcePosition> {
        var ranges: [TopicPartition: ClosedRange<Int64>] = [:]
        for event in events {
            let key = TopicPartition(topic: event.position.topic, partition: event.position.partition)
            let offset = event.position.offset
            if let range = ranges[key] {
                ranges[key] = min(range.lowerBound, offset)...max(range.upperBound, offset)
            } else {
                ranges[key] = offset...offset
            }
        }
        let conditions = ranges.sorted { $0.key.description < $1.key.description }.map { key, range in
            "(source_topic = \(TabSeparated.quote(key.topic)) AND source_partition = \(key.partition)"
                + " AND source_offset BETWEEN \(range.lowerBound) AND \(range.upperBound))"
        }
        var stored = Set<SourcePosition>()
        let sql = """
            SELECT source_topic, source_partition, source_offset FROM \(schema.table("event_positions"))
            WHERE \(conditions.joined(separator: " OR "))
            """
        for try await row in try await client.query(sql) {
            guard row.count == 3, let partition = Int32(row[1]), let offset = Int64(row[2]) else {
                throw ClickHouseError.malformedResult("position row \(row)")
            }
            stored.insert(SourcePosition(topic: row[0], partition: partition, offset: offset))
        }
        return stored
    }

    // MARK: AnalyticsStore

    public func topProducts(eventType: EventType, since: EpochMillis, limit: Int) async throws -> [ProductCount] {
        let schema = try await schema()
        let slices = TimeSlices(since: since)
        let type = TabSeparated.quote(eventType.rawValue)
        var parts: [String] = []
        if let head = slices.head {
            parts.append("""
                SELECT product_id, count() AS events, sum(price) AS revenue FROM \(schema.table("events"))
                WHERE event_type = \(type) AND \(head) GROUP BY product_id
                """)
        }
        for (granularity, condition) in slices.buckets {
            parts.append("""
                SELECT product_id, sum(events) AS events, sum(revenue) AS revenue FROM \(schema.table("product_stats"))
                WHERE granularity = \(granularity) AND event_type = \(type) AND \(condition) GROUP BY product_id
                """)
        }
        let sql = """
            SELECT product_id, sum(events) AS total, sum(revenue) AS value FROM (
            \(parts.joined(separator: "\nUNION ALL\n"))
            ) GROUP BY product_id ORDER BY total DESC, product_id LIMIT \(max(limit, 0))
            """
        var counts: [(id: String, count: Int64, revenue: Double)] = []
        for try await row in try await client.query(sql) {
            guard row.count == 3, let count = Int64(row[1]), let revenue = Double(row[2]) else {
                throw ClickHouseError.malformedResult("top products row \(row)")
            }
            counts.append((row[0], count, revenue))
        }
        guard !counts.isEmpty else { return [] }
        let names = try await productNames(counts.map(\.id), schema: schema)
        return counts.map { entry in
            let known = names[entry.id]
            return ProductCount(productID: entry.id, name: known?.name ?? "", category: known?.category ?? "",
                                count: entry.count, revenue: entry.revenue)
        }
    }

    private func productNames(_ ids: [String], schema: ClickHouseSchema) async throws
        -> [String: (name: String, category: String)]
    {
        let sql = """
            SELECT product_id, argMax(name, updated_ms), argMax(category, updated_ms) FROM \(schema.table("products"))
            WHERE product_id IN (\(ids.map(TabSeparated.quote).joined(separator: ", "))) GROUP BY product_id
            """
        var names: [String: (name: String, category: String)] = [:]
        for try await row in try await client.query(sql) where row.count == 3 {
            names[row[0]] = (row[1], row[2])
        }
        return names
    }

    /// Distinct sessions that viewed, added to cart and purchased since `since`.
    ///
    /// Each (step, session) has exactly one segment `(prev_ms, last_ms]` holding T when it had that step at or
    /// after T (see `FunnelSegments`), so the answer is a filtered sum of `sign` over one scan of the table:
    /// exact whatever merges have or have not happened, without FINAL or a hash set of sessions.
    public func funnel(since: EpochMillis) async throws -> Funnel {
        let schema = try await schema()
        let since = max(since, 0)
        let sql = """
            SELECT bitShiftRight(step_session, 62) AS step, sum(sign) FROM \(schema.table("funnel_segments"))
            WHERE last_ms >= \(since) AND prev_ms < \(since) GROUP BY step
            """
        var funnel = Funnel(views: 0, carts: 0, purchases: 0)
        for try await row in try await client.query(sql) {
            guard row.count == 2, let index = Int(row[0]), let count = Int64(row[1]),
                  ClickHouseSchema.funnelSteps.indices.contains(index)
            else { throw ClickHouseError.malformedResult("funnel row \(row)") }
            switch ClickHouseSchema.funnelSteps[index] {
            case .view: funnel.views = count
            case .addToCart: funnel.carts = count
            case .purchase: funnel.purchases = count
            default: break
            }
        }
        return funnel
    }

    /// Per category: all events, purchases and purchase revenue since `since`; highest revenue first.
    public func categories(since: EpochMillis) async throws -> [CategoryStats] {
        let schema = try await schema()
        let slices = TimeSlices(since: since)
        var parts: [String] = []
        if let head = slices.head {
            parts.append("""
                SELECT category, event_type, count() AS events, sum(price) AS revenue FROM \(schema.table("events"))
                WHERE \(head) GROUP BY category, event_type
                """)
        }
        for (granularity, condition) in slices.buckets {
            parts.append("""
                SELECT category, event_type, sum(events) AS events, sum(revenue) AS revenue
                FROM \(schema.table("category_stats"))
                WHERE granularity = \(granularity) AND \(condition) GROUP BY category, event_type
                """)
        }
        let sql = """
            SELECT category, sum(events) AS total, sumIf(events, event_type = 'purchase') AS purchases,
                sumIf(revenue, event_type = 'purchase') AS value
            FROM (
            \(parts.joined(separator: "\nUNION ALL\n"))
            ) GROUP BY category ORDER BY value DESC, category
            """
        var result: [CategoryStats] = []
        for try await row in try await client.query(sql) {
            guard row.count == 4, let events = Int64(row[1]), let purchases = Int64(row[2]),
                  let revenue = Double(row[3])
            else { throw ClickHouseError.malformedResult("category row \(row)") }
            result.append(CategoryStats(category: row[0], events: events, purchases: purchases, revenue: revenue))
        }
        return result
    }

    public func recentInteractions(userID: String, limit: Int) async throws -> [UserInteraction] {
        let schema = try await schema()
        // LIMIT 1 BY the position: exact even before a merge has folded a duplicate away.
        let sql = """
            SELECT product_id, event_type, ts_ms FROM \(schema.table("user_interactions"))
            WHERE user_id = \(TabSeparated.quote(userID))
            ORDER BY ts_ms DESC, source_topic, source_partition, source_offset
            LIMIT 1 BY source_topic, source_partition, source_offset
            LIMIT \(max(limit, 0))
            """
        var result: [UserInteraction] = []
        for try await row in try await client.query(sql) {
            guard row.count == 3, let type = EventType(rawValue: row[1]), let at = Int64(row[2]) else {
                throw ClickHouseError.malformedResult("interaction row \(row)")
            }
            result.append(UserInteraction(productID: row[0], type: type, timestamp: at))
        }
        return result
    }

    /// Every stored event once: the hourly category buckets cover all of them.
    public func eventCount() async throws -> Int64 {
        let schema = try await schema()
        let text = try await client.scalar("""
            SELECT sum(events) FROM \(schema.table("category_stats")) WHERE granularity = 3600
            """)
        guard let text, let count = Int64(text) else {
            throw ClickHouseError.malformedResult("event count \(text ?? "nothing")")
        }
        return count
    }

    // MARK: HealthCheckable

    public func checkHealth() async -> DependencyHealth {
        do {
            try await client.ping()
            _ = try await client.serverVersion()  // also checks the credentials
            return .ok
        } catch {
            return .down(String(describing: error))
        }
    }
}

/// Splits "since T until now" into slices each answered exactly from the cheapest table:
/// raw events up to the next whole minute, minute buckets up to the next whole hour, hour buckets after.
struct TimeSlices {
    let since: Int64
    let minuteStart: Int64
    let hourStart: Int64

    init(since: EpochMillis) {
        let s = min(max(since, 0), Int64(UInt32.max) * 1000)
        self.since = s
        minuteStart = Self.roundUp(s, to: 60_000)
        hourStart = Self.roundUp(s, to: 3_600_000)
    }

    static func roundUp(_ value: Int64, to step: Int64) -> Int64 {
        (value + step - 1) / step * step
    }

    /// Condition on `events` for the raw head, or nil when `since` is on a minute boundary.
    var head: String? {
        minuteStart > since ? "ts_ms >= \(since) AND ts_ms < \(minuteStart)" : nil
    }

    /// (granularity, condition on `bucket`) for the bucket slices that are not empty.
    var buckets: [(Int, String)] {
        var result: [(Int, String)] = []
        if hourStart > minuteStart {
            result.append((60, "bucket >= toDateTime(\(minuteStart / 1000)) AND bucket < toDateTime(\(hourStart / 1000))"))
        }
        result.append((3600, "bucket >= toDateTime(\(hourStart / 1000))"))
        return result
    }
}
