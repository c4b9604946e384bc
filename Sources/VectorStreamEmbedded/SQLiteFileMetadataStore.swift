import Foundation
import GRDB
import VectorStreamCore

/// File records in the embedded SQLite database (table `files`, migration v4): the store without Redis.
///
/// Status, holder, lease and attempts are columns and each claim is one IMMEDIATE transaction, so two processes on
/// the same data directory (or two tasks of one) never both win a file.
public final class SQLiteFileMetadataStore: FileMetadataStore {
    public let database: EmbeddedDatabase

    public init(database: EmbeddedDatabase) { self.database = database }

    public var backendName: String { "embedded" }

    private static func encode(_ record: FileRecord) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(record), as: UTF8.self)
    }

    /// The record from a row: the JSON, with the claim's columns (the authority) laid over it.
    private static func decode(_ row: Row) throws -> FileRecord {
        var record = try JSONDecoder().decode(FileRecord.self, from: Data((row["record"] as String).utf8))
        record.status = FileStatus(rawValue: row["status"]) ?? record.status
        record.holder = row["holder"]
        record.leaseUntil = row["lease_until"]
        record.attempts = row["attempts"]
        return record
    }

    private func write(_ record: FileRecord, _ db: Database) throws {
        try db.execute(sql: """
            UPDATE files SET status = ?, holder = ?, lease_until = ?, attempts = ?, record = ? WHERE sha256 = ?
            """, arguments: [record.status.rawValue, record.holder, record.leaseUntil, record.attempts,
                             try Self.encode(record), record.sha256])
    }

    private func immediate<T>(_ body: @escaping (Database) throws -> T) throws -> T {
        try database.pool.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }

    public func register(_ record: FileRecord) async throws -> FileRegistration {
        try immediate { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM files WHERE sha256 = ?", arguments: [record.sha256]) {
                return .existing(try Self.decode(row))
            }
            try db.execute(sql: """
                INSERT INTO files(sha256, uploaded_at, status, holder, lease_until, attempts, record)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.sha256, record.uploadedAt, record.status.rawValue, record.holder,
                                 record.leaseUntil, record.attempts, try Self.encode(record)])
            return .created(record)
        }
    }

    public func record(sha256: String) async throws -> FileRecord? {
        try await database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM files WHERE sha256 = ?", arguments: [sha256]).map(Self.decode)
        }
    }

    public func list(limit: Int, after cursor: FileCursor?) async throws -> FilePage {
        let rows = try await database.pool.read { db in
            if let cursor {
                return try Row.fetchAll(db, sql: """
                    SELECT * FROM files WHERE uploaded_at < ? OR (uploaded_at = ? AND sha256 < ?)
                    ORDER BY uploaded_at DESC, sha256 DESC LIMIT ?
                    """, arguments: [cursor.uploadedAt, cursor.uploadedAt, cursor.sha256, limit + 1])
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM files ORDER BY uploaded_at DESC, sha256 DESC LIMIT ?",
                                    arguments: [limit + 1])
        }
        let records = try rows.prefix(limit).map(Self.decode)
        return FilePage(records: records, next: rows.count > limit ? records.last.map { FileCursor($0).text } : nil)
    }

    public func claim(sha256: String, holder: String, lease: Duration, now: EpochMillis) async throws -> FileClaimOutcome {
        try immediate { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM files WHERE sha256 = ?", arguments: [sha256]) else {
                return .notFound
            }
            let record = try Self.decode(row)
            switch FileClaimRule.decide(status: record.status, holder: record.holder, leaseUntil: record.leaseUntil,
                                        claimant: holder, now: now) {
            case .win:
                let won = FileClaimRule.won(record, claimant: holder, lease: lease, now: now)
                try self.write(won, db)
                return .won(won)
            case .done: return .done(record)
            case .held: return .heldElsewhere(record)
            case .failed: return .failed(record)
            }
        }
    }

    public func renew(sha256: String, holder: String, lease: Duration, now: EpochMillis) async throws -> Bool {
        try immediate { db in
            try db.execute(sql: """
                UPDATE files SET lease_until = ? WHERE sha256 = ? AND status = 'processing' AND holder = ?
                """, arguments: [now + lease.wholeMilliseconds, sha256, holder])
            return db.changesCount == 1
        }
    }

    public func save(_ record: FileRecord, holder: String) async throws -> Bool {
        try immediate { db in
            let current = try Row.fetchOne(db, sql: "SELECT status, holder FROM files WHERE sha256 = ?",
                                           arguments: [record.sha256])
            guard let current, current["status"] as String == FileStatus.processing.rawValue,
                  current["holder"] as String? == holder else { return false }
            var next = record
            next.holder = holder
            try self.write(next, db)
            return true
        }
    }

    public func requeue(sha256: String) async throws -> FileRequeueOutcome {
        try immediate { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM files WHERE sha256 = ?", arguments: [sha256]) else {
                return .notFound
            }
            var record = try Self.decode(row)
            guard record.status == .failed else { return .notFailed(record) }
            record.status = .queued
            record.holder = nil
            record.leaseUntil = nil
            try self.write(record, db)
            return .requeued(record)
        }
    }

    public func unfinished(now: EpochMillis, limit: Int) async throws -> [FileRecord] {
        try await database.pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM files WHERE status = 'queued' OR (status = 'processing' AND COALESCE(lease_until, 0) <= ?)
                ORDER BY uploaded_at, sha256 LIMIT ?
                """, arguments: [now, limit]).map(Self.decode)
        }
    }

    public func statusCounts() async throws -> [FileStatus: Int] {
        try await database.pool.read { db in
            var counts: [FileStatus: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM files GROUP BY status") {
                if let status = FileStatus(rawValue: row["status"]) { counts[status] = row["n"] }
            }
            return counts
        }
    }

    /// Test hook: the record exactly as given (e.g. as a crashed worker left it).
    public func overwrite(_ record: FileRecord) throws {
        _ = try immediate { db in try self.write(record, db) }
    }
}
