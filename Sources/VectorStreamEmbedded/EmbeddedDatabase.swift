import Foundation
import GRDB
import VectorStreamCore

/// The embedded stores' SQLite database (WAL): events, aggregates, vectors, offsets, dead letters, metrics.
///
/// One file under the data directory, so a restart on the same directory resumes exactly where it stopped.
public final class EmbeddedDatabase: Sendable {
    public let pool: DatabasePool
    public let path: String

    public init(directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError("cannot create data directory '\(directory)': \(error.localizedDescription)")
        }
        path = (directory as NSString).appendingPathComponent("vectorstream.sqlite")
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            // NORMAL in WAL mode: durable across process crashes (kill -9), fsync at checkpoints.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Keep the indexes' pages in memory: inserts touch them at random (event ids are UUIDs).
            try db.execute(sql: "PRAGMA cache_size = -131072")
        }
        if !FileManager.default.fileExists(atPath: path) {
            // 16 KiB pages, fixed when the file is created (WAL mode cannot change them later): a batch's random
            // index inserts then dirty fewer, fuller pages, so each commit writes less to the WAL.
            let creator = try DatabaseQueue(path: path)
            try creator.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA page_size = 16384")
                try db.execute(sql: "PRAGMA journal_mode = WAL")
            }
            try creator.close()
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY,
                    event_id TEXT NOT NULL UNIQUE,
                    ts INTEGER NOT NULL,
                    user_id TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    product_id TEXT NOT NULL,
                    category TEXT NOT NULL,
                    price REAL NOT NULL,
                    session_id TEXT NOT NULL,
                    source_topic TEXT NOT NULL,
                    source_partition INTEGER NOT NULL,
                    source_offset INTEGER NOT NULL,
                    raw BLOB NOT NULL
                );
                CREATE INDEX events_user ON events(user_id, ts);
                CREATE TABLE product_minute (
                    minute INTEGER NOT NULL,
                    product_id TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    name TEXT NOT NULL,
                    category TEXT NOT NULL,
                    count INTEGER NOT NULL,
                    revenue REAL NOT NULL,
                    PRIMARY KEY (minute, event_type, product_id)
                ) WITHOUT ROWID;
                CREATE TABLE product_vectors (
                    product_id TEXT PRIMARY KEY,
                    vector BLOB NOT NULL,
                    name TEXT NOT NULL,
                    category TEXT NOT NULL,
                    price REAL NOT NULL,
                    model_version TEXT NOT NULL,
                    text_hash TEXT NOT NULL,
                    updated_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE source_offsets (
                    topic TEXT NOT NULL,
                    partition INTEGER NOT NULL,
                    next_offset INTEGER NOT NULL,
                    PRIMARY KEY (topic, partition)
                ) WITHOUT ROWID;
                CREATE TABLE dead_letters (
                    source_topic TEXT NOT NULL,
                    source_partition INTEGER NOT NULL,
                    source_offset INTEGER NOT NULL,
                    code TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    raw BLOB NOT NULL,
                    rejected_at INTEGER NOT NULL,
                    PRIMARY KEY (source_topic, source_partition, source_offset)
                ) WITHOUT ROWID;
                CREATE TABLE metrics_history (
                    ts INTEGER NOT NULL,
                    worker TEXT NOT NULL,
                    stats TEXT NOT NULL,
                    PRIMARY KEY (worker, ts)
                ) WITHOUT ROWID;
                CREATE TABLE counters (
                    name TEXT PRIMARY KEY,
                    value INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        m.registerMigration("v2-funnel-index") { db in
            // Covers the session funnel: distinct sessions per step in a time window.
            try db.execute(sql: "CREATE INDEX events_funnel ON events(ts, event_type, session_id)")
        }
        m.registerMigration("v3-ingested-at") { db in
            // Retention by age counts from when an event was stored, not from its own time: a replay, a backfill
            // or the generator's reproducible output carries old timestamps and must not vanish at once.
            // Rows stored before this column existed have 0 and go by age first.
            try db.execute(sql: "ALTER TABLE events ADD COLUMN ingested_at INTEGER NOT NULL DEFAULT 0")
        }
        m.registerMigration("v4-files") { db in
            // Uploaded files (SQLiteFileMetadataStore): the claim's fields are columns so a claim is one
            // transaction; the rest of the record is JSON.
            try db.execute(sql: """
                CREATE TABLE files (
                    sha256 TEXT PRIMARY KEY,
                    uploaded_at INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    holder TEXT,
                    lease_until INTEGER,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    record TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX files_newest ON files(uploaded_at DESC, sha256 DESC);
                CREATE INDEX files_status ON files(status, uploaded_at);
                """)
        }
        return m
    }

    /// Next offsets committed per partition of a source (a file's byte position, say).
    public func committedOffsets(topic: String) throws -> [Int32: Int64] {
        try pool.read { db in
            var result: [Int32: Int64] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT partition, next_offset FROM source_offsets WHERE topic = ?",
                                           arguments: [topic])
            while let row = try rows.next() { result[row[0]] = row[1] }
            return result
        }
    }

    public func commit(_ token: CommitToken) throws {
        try pool.write { db in
            for (tp, offset) in token.nextOffsets {
                try db.execute(sql: """
                    INSERT INTO source_offsets(topic, partition, next_offset) VALUES (?, ?, ?)
                    ON CONFLICT(topic, partition) DO UPDATE SET next_offset = excluded.next_offset
                    """, arguments: [tp.topic, tp.partition, offset])
            }
        }
    }

    /// A persistent counter (products embedded over all runs, say).
    public func counter(_ name: String) throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = ?", arguments: [name]) ?? 0 }
    }
}
