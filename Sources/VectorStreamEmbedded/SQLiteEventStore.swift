import Foundation
import GRDB
import GRDBSQLite
import Metrics
import VectorStreamCore

/// Events and their per-minute aggregates in SQLite; the embedded `EventSink` and `AnalyticsStore`.
///
/// Idempotent by event id: a replayed batch inserts nothing and aggregates only what was new.
public final class SQLiteEventStore: EventSink, AnalyticsStore, DeadLetterSink, DeadLetterReader, HealthCheckable, Sendable {
    private let database: EmbeddedDatabase
    private let deadLetterFile: String?
    private let storedCounter = Counter(label: "vectorstream_sink_rows_total", dimensions: [("sink", "sqlite")])

    public var dependencyName: String { "sqlite" }

    /// - Parameter deadLetterFile: JSON-lines file that also receives each newly rejected record.
    public init(database: EmbeddedDatabase, deadLetterFile: String? = nil) {
        self.database = database
        self.deadLetterFile = deadLetterFile
    }

    public func store(_ events: [AcceptedEvent]) async throws {
        let inserted = try await database.pool.write { db -> Int in
            let insert = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO events(event_id, ts, user_id, event_type, product_id, category, price,
                    session_id, source_topic, source_partition, source_offset, raw, ingested_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let ingestedAt = wallClockMillis()
            struct Key: Hashable { var minute: Int64; var type: String; var product: String }
            var aggregates: [Key: (name: String, category: String, count: Int64, revenue: Double)] = [:]
            var inserted = 0
            // Bound through the C API: the hot loop of the embedded sink, where building GRDB's argument arrays
            // (boxed values, a Data copy of every raw record) was a large part of its time (Kafka bench: +10-15 %).
            let row = RowBinder(insert.sqliteStatement)
            defer { row.finish() }
            for accepted in events {
                let e = accepted.event
                row.text(1, e.eventID)
                row.int(2, e.timestamp)
                row.text(3, e.userID)
                row.text(4, e.type.rawValue)
                row.text(5, e.product.id)
                row.text(6, e.product.category)
                row.double(7, e.product.price)
                row.text(8, e.sessionID)
                row.text(9, accepted.position.topic)
                row.int(10, Int64(accepted.position.partition))
                row.int(11, accepted.position.offset)
                row.blob(12, accepted.raw)
                row.int(13, ingestedAt)
                try row.step(db)
                guard db.changesCount > 0 else { continue }
                inserted += 1
                let key = Key(minute: e.timestamp / 60_000, type: e.type.rawValue, product: e.product.id)
                let revenue = e.type == .purchase ? e.product.price : 0
                if var a = aggregates[key] {
                    a.count += 1
                    a.revenue += revenue
                    aggregates[key] = a
                } else {
                    aggregates[key] = (e.product.name, e.product.category, 1, revenue)
                }
            }
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO product_minute(minute, product_id, event_type, name, category, count, revenue)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(minute, event_type, product_id) DO UPDATE SET
                    count = count + excluded.count, revenue = revenue + excluded.revenue,
                    name = excluded.name, category = excluded.category
                """)
            for (key, a) in aggregates {
                try upsert.execute(arguments: [key.minute, key.product, key.type, a.name, a.category, a.count, a.revenue])
            }
            return inserted
        }
        storedCounter.increment(by: inserted)
    }

    public func store(_ rejected: [RejectedRecord]) async throws {
        let now = wallClockMillis()
        let fresh = try await database.pool.write { db -> [RejectedRecord] in
            let insert = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO dead_letters(source_topic, source_partition, source_offset, code, reason, raw, rejected_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            var fresh: [RejectedRecord] = []
            for r in rejected {
                try insert.execute(arguments: [r.position.topic, Int64(r.position.partition), r.position.offset,
                                               r.reason.code, r.reason.description, Data(r.raw), now])
                if db.changesCount > 0 { fresh.append(r) }
            }
            return fresh
        }
        if let deadLetterFile, !fresh.isEmpty { try appendToDeadLetterFile(fresh, path: deadLetterFile) }
    }

    private func appendToDeadLetterFile(_ records: [RejectedRecord], path: String) throws {
        var out = Data()
        for r in records {
            var object: [String: Any] = [
                "code": r.reason.code, "reason": r.reason.description,
                "source": ["topic": r.position.topic, "partition": Int(r.position.partition), "offset": r.position.offset],
            ]
            if let text = String(validating: r.raw, as: UTF8.self) { object["raw"] = text } else {
                object["raw_base64"] = Data(r.raw).base64EncodedString()
            }
            out.append(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
            out.append(0x0A)
        }
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw ConfigurationError("cannot open dead-letter file '\(path)'")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: out)
        try handle.synchronize()
    }

    // MARK: AnalyticsStore

    public func topProducts(eventType: EventType, since: EpochMillis, limit: Int) async throws -> [ProductCount] {
        try await database.pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT product_id, MAX(name), MAX(category), SUM(count) AS c, SUM(revenue)
                FROM product_minute WHERE event_type = ? AND minute >= ?
                GROUP BY product_id ORDER BY c DESC, product_id LIMIT ?
                """, arguments: [eventType.rawValue, since / 60_000, limit]).map {
                ProductCount(productID: $0[0], name: $0[1], category: $0[2], count: $0[3], revenue: $0[4])
            }
        }
    }

    /// Sessions that viewed, added to cart and purchased (a session funnel, as ClickHouse answers it).
    public func funnel(since: EpochMillis) async throws -> Funnel {
        try await database.pool.read { db in
            var counts: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT event_type, COUNT(DISTINCT session_id) FROM events
                WHERE ts >= ? AND event_type IN ('view', 'add_to_cart', 'purchase') GROUP BY event_type
                """, arguments: [since]) { counts[row[0]] = row[1] }
            return Funnel(views: counts["view"] ?? 0, carts: counts["add_to_cart"] ?? 0, purchases: counts["purchase"] ?? 0)
        }
    }

    public func categories(since: EpochMillis) async throws -> [CategoryStats] {
        try await database.pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT category, SUM(count), SUM(CASE WHEN event_type = 'purchase' THEN count ELSE 0 END), SUM(revenue) AS r
                FROM product_minute WHERE minute >= ? GROUP BY category ORDER BY r DESC, category
                """, arguments: [since / 60_000]).map {
                CategoryStats(category: $0[0], events: $0[1], purchases: $0[2], revenue: $0[3])
            }
        }
    }

    public func recentInteractions(userID: String, limit: Int) async throws -> [UserInteraction] {
        try await database.pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT product_id, event_type, ts FROM events WHERE user_id = ? ORDER BY ts DESC LIMIT ?
                """, arguments: [userID, limit]).compactMap { row in
                guard let type = EventType(rawValue: row[1]) else { return nil }
                return UserInteraction(productID: row[0], type: type, timestamp: row[2])
            }
        }
    }

    public func eventCount() async throws -> Int64 {
        try await database.pool.read { db in try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0 }
    }

    public func deadLetterCount() async throws -> Int64 {
        try await database.pool.read { db in try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM dead_letters") ?? 0 }
    }

    /// Newest first, paged by cursor; `reason` filters by code.
    public func deadLetters(reason: String?, limit: Int, before: DeadLetterCursor?) async throws -> [DeadLetterSample] {
        try await database.pool.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let reason {
                conditions.append("code = ?")
                _ = arguments.append(contentsOf: [reason])
            }
            if let before {
                conditions.append("""
                    (rejected_at < ? OR (rejected_at = ? AND (source_topic > ? OR (source_topic = ? AND \
                    (source_partition < ? OR (source_partition = ? AND source_offset < ?))))))
                    """)
                _ = arguments.append(contentsOf: [before.rejectedAt, before.rejectedAt, before.topic, before.topic,
                                                  Int64(before.partition), Int64(before.partition), before.offset])
            }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            _ = arguments.append(contentsOf: [max(0, min(limit, 1_000))])
            return try Row.fetchAll(db, sql: """
                SELECT source_topic, source_partition, source_offset, code, reason, rejected_at, raw FROM dead_letters
                \(whereClause)
                ORDER BY rejected_at DESC, source_topic ASC, source_partition DESC, source_offset DESC LIMIT ?
                """, arguments: arguments).map { row in
                let raw: Data = row[6]
                return DeadLetterSample(code: row[3], reason: row[4],
                                        position: SourcePosition(topic: row[0], partition: row[1], offset: row[2]),
                                        rejectedAt: row[5], raw: Array(raw))
            }
        }
    }

    public func deadLetterCounts() async throws -> [String: Int64] { try await deadLettersByCode() }

    /// Rejections by reason code, for summaries.
    public func deadLettersByCode() async throws -> [String: Int64] {
        try await database.pool.read { db in
            var result: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT code, COUNT(*) FROM dead_letters GROUP BY code") { result[row[0]] = row[1] }
            return result
        }
    }

    public func checkHealth() async -> DependencyHealth {
        do {
            _ = try await database.pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
            return .ok
        } catch {
            return .down("SQLite at \(database.path): \(error)")
        }
    }
}

/// Binds and runs one prepared statement per row through SQLite's C API (the statement stays GRDB's cached one).
private struct RowBinder {
    let statement: OpaquePointer
    /// SQLITE_TRANSIENT: SQLite copies the bytes, so the Swift buffers need not outlive the bind call.
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    init(_ statement: OpaquePointer) {
        self.statement = statement
        sqlite3_reset(statement)
    }

    func text(_ index: Int32, _ value: String) {
        var value = value
        value.withUTF8 { bytes in
            // An empty string needs a non-null pointer too, or SQLite stores NULL.
            let start = UnsafeRawPointer(bytes.baseAddress) ?? UnsafeRawPointer(bitPattern: 1)!
            _ = sqlite3_bind_text(statement, index, start.assumingMemoryBound(to: CChar.self), Int32(bytes.count),
                                  Self.transient)
        }
    }

    func int(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(statement, index, value) }

    func double(_ index: Int32, _ value: Double) { sqlite3_bind_double(statement, index, value) }

    func blob(_ index: Int32, _ value: [UInt8]) {
        value.withUnsafeBytes { bytes in
            // A zero-length blob still needs a non-null pointer, or SQLite stores NULL (the column is NOT NULL).
            _ = sqlite3_bind_blob(statement, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!,
                                  Int32(bytes.count), Self.transient)
        }
    }

    /// Runs the row; throws GRDB's DatabaseError with SQLite's message on failure.
    func step(_ db: Database) throws {
        let code = sqlite3_step(statement)
        sqlite3_reset(statement)
        guard code == SQLITE_DONE else {
            let message = db.sqliteConnection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message,
                                sql: sqlite3_sql(statement).map { String(cString: $0) })
        }
    }

    func finish() {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }
}
