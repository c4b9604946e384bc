import Foundation
import GRDB
import VectorStreamCore

/// How much the embedded store keeps: an endless stream must not fill the disk.
public struct RetentionPolicy: Sendable, Hashable {
    /// Events, dead letters and metrics stored longer ago than this are deleted (by when they were stored, not by
    /// the event's own time); nil keeps them by age.
    public var maxAge: Duration?
    /// The most bytes the database may hold in use (SQLite pages minus free ones); the oldest events, dead
    /// letters and metrics go first, down to 80 % of it. Freed pages are reused, so the file stops growing
    /// there instead of shrinking. nil: no cap.
    public var maxBytes: Int64?

    public init(maxAge: Duration? = nil, maxBytes: Int64? = nil) {
        self.maxAge = maxAge
        self.maxBytes = maxBytes
    }
}

/// What one pass of retention removed.
public struct RetentionReport: Sendable, Hashable {
    public var eventsDeleted = 0
    public var deadLettersDeleted = 0
    public var metricPointsDeleted = 0
    /// Bytes in use before and after.
    public var bytesBefore: Int64 = 0
    public var bytesAfter: Int64 = 0

    public init() {}
}

extension EmbeddedDatabase {
    /// Bytes of pages in use (page count minus free pages, times the page size).
    public func bytesInUse() throws -> Int64 {
        try pool.read { db in try Self.bytesInUse(db) }
    }

    /// The database's files on disk (main file, WAL and shared memory), what `df` sees.
    public func bytesOnDisk() -> Int64 {
        [path, path + "-wal", path + "-shm"].reduce(0) { total, file in
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value ?? 0
            return total + size
        }
    }

    static func bytesInUse(_ db: Database) throws -> Int64 {
        let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
        let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
        let size = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
        return (pages - free) * size
    }

    /// Deletes what `policy` no longer keeps: first by age, then the oldest until the size fits. Aggregates
    /// (per-minute product counts) older than the oldest kept event go with it, so every panel covers the same
    /// span. Vectors, offsets and counters are never deleted (they are bounded by the catalog and the sources).
    @discardableResult
    public func applyRetention(_ policy: RetentionPolicy, now: EpochMillis = wallClockMillis()) throws -> RetentionReport {
        var report = RetentionReport()
        report.bytesBefore = try bytesInUse()
        if let maxAge = policy.maxAge {
            let cutoff = now - maxAge.components.seconds * 1000 - maxAge.components.attoseconds / 1_000_000_000_000_000
            try pool.write { db in
                try db.execute(sql: "DELETE FROM events WHERE ingested_at < ?", arguments: [cutoff])
                report.eventsDeleted += db.changesCount
                if report.eventsDeleted > 0 {
                    // Aggregates cover the same span as the events left.
                    if let oldest = try Int64.fetchOne(db, sql: "SELECT MIN(ts) FROM events") {
                        try db.execute(sql: "DELETE FROM product_minute WHERE minute < ?", arguments: [oldest / 60_000])
                    } else {
                        try db.execute(sql: "DELETE FROM product_minute")
                    }
                }
                try db.execute(sql: "DELETE FROM dead_letters WHERE rejected_at < ?", arguments: [cutoff])
                report.deadLettersDeleted += db.changesCount
                try db.execute(sql: "DELETE FROM metrics_history WHERE ts < ?", arguments: [cutoff])
                report.metricPointsDeleted += db.changesCount
            }
        }
        if let maxBytes = policy.maxBytes, try bytesInUse() > maxBytes {
            let target = Double(maxBytes) * 0.8
            // Each round deletes the oldest share of every growing table that should bring the size to the target.
            for _ in 0..<20 {
                let used = Double(try bytesInUse())
                guard used > target else { break }
                let share = min(max((used - target) / used, 0.02), 1)
                let deleted = try pool.write { db -> (Int, Int, Int) in
                    var counts = (0, 0, 0)
                    if let (low, high) = try Self.idRange(db, "SELECT MIN(id), MAX(id) FROM events") {
                        let cut = low + Int64((Double(high - low + 1) * share).rounded(.up))
                        try db.execute(sql: "DELETE FROM events WHERE id < ?", arguments: [cut])
                        counts.0 = db.changesCount
                        if let oldest = try Int64.fetchOne(db, sql: "SELECT MIN(ts) FROM events") {
                            try db.execute(sql: "DELETE FROM product_minute WHERE minute < ?", arguments: [oldest / 60_000])
                        } else {
                            try db.execute(sql: "DELETE FROM product_minute")
                        }
                    }
                    counts.1 = try Self.deleteOldest(db, table: "dead_letters", time: "rejected_at", share: share)
                    counts.2 = try Self.deleteOldest(db, table: "metrics_history", time: "ts", share: share)
                    return counts
                }
                report.eventsDeleted += deleted.0
                report.deadLettersDeleted += deleted.1
                report.metricPointsDeleted += deleted.2
                if deleted == (0, 0, 0) { break }
            }
        }
        report.bytesAfter = try bytesInUse()
        return report
    }

    private static func idRange(_ db: Database, _ sql: String) throws -> (Int64, Int64)? {
        guard let row = try Row.fetchOne(db, sql: sql), let low = row[0] as Int64?, let high = row[1] as Int64? else {
            return nil
        }
        return (low, high)
    }

    /// Deletes the oldest `share` of a table's rows by its time column.
    private static func deleteOldest(_ db: Database, table: String, time: String, share: Double) throws -> Int {
        let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0
        let n = Int((Double(count) * share).rounded(.up))
        guard n > 0 else { return 0 }
        guard let cut = try Int64.fetchOne(db, sql: "SELECT \(time) FROM \(table) ORDER BY \(time) LIMIT 1 OFFSET ?",
                                           arguments: [min(n, count - 1)])
        else { return 0 }
        try db.execute(sql: "DELETE FROM \(table) WHERE \(time) < ?", arguments: [n >= count ? cut + 1 : cut])
        return db.changesCount
    }
}
