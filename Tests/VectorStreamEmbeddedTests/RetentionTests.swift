import Foundation
import GRDB
import Testing
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamGenerator

/// The embedded store keeps a bounded amount: by age and by size, oldest first, panels consistent.
@Suite("Embedded store retention")
struct RetentionTests {
    func fill(_ store: SQLiteEventStore, events: Int, startingAt start: EpochMillis, step: EpochMillis) async throws {
        var config = GeneratorConfiguration(seed: 3, productCount: 200)
        config.startTime = start
        config.millisPerEvent = Double(step)
        var stream = EventGenerator(configuration: config).makeStream()
        var batch: [AcceptedEvent] = []
        var offset: Int64 = 0
        while batch.count < events {
            let record = stream.next()
            guard let event = record.event else { continue }
            batch.append(AcceptedEvent(event: event, raw: record.bytes,
                                       position: SourcePosition(topic: "t", partition: 0, offset: offset), arrivalNanos: 0))
            offset += 1
        }
        for chunk in stride(from: 0, to: batch.count, by: 5_000) {
            try await store.store(Array(batch[chunk..<min(chunk + 5_000, batch.count)]))
        }
    }

    @Test("age counts from when an event was stored: old-timestamped input (a replay, the generator) stays; events stored longer ago go")
    func byAge() async throws {
        let database = try EmbeddedDatabase(directory: temporaryDirectory())
        let store = SQLiteEventStore(database: database)
        let now = wallClockMillis()
        // 3,000 events whose own timestamps are months old (the generator's reproducible clock), stored now.
        try await fill(store, events: 3_000, startingAt: 1_767_225_600_000, step: 1_000)
        let kept = try database.applyRetention(RetentionPolicy(maxAge: .seconds(3_600)), now: now)
        #expect(kept.eventsDeleted == 0, "stored a moment ago: nothing is older than the retention")
        #expect(try await store.eventCount() == 3_000)

        // The first 2,000 as if stored two hours ago.
        try await database.pool.write { db in
            try db.execute(sql: "UPDATE events SET ingested_at = ingested_at - 7200000 WHERE id <= 2000")
        }
        let report = try database.applyRetention(RetentionPolicy(maxAge: .seconds(3_600)), now: now)
        #expect(report.eventsDeleted == 2_000)
        let (count, oldest, oldestMinute) = try await database.pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events")!,
             try Int64.fetchOne(db, sql: "SELECT MIN(ts) FROM events")!,
             try Int64.fetchOne(db, sql: "SELECT MIN(minute) FROM product_minute")!)
        }
        #expect(count == 1_000)
        #expect(oldestMinute >= oldest / 60_000, "aggregates cover the same span as the events left")
    }

    @Test("past the size cap the oldest go first, down to 80 % of it; the newest stay")
    func bySize() async throws {
        let database = try EmbeddedDatabase(directory: temporaryDirectory())
        let store = SQLiteEventStore(database: database)
        let now = wallClockMillis()
        try await fill(store, events: 40_000, startingAt: now - 40_000_000, step: 1_000)
        let used = try database.bytesInUse()
        let cap = used / 2
        let newest = try await database.pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(ts) FROM events")! }

        let report = try database.applyRetention(RetentionPolicy(maxBytes: cap), now: now)
        #expect(report.bytesAfter <= cap, "in use \(report.bytesAfter) of cap \(cap)")
        #expect(report.eventsDeleted > 10_000)
        let (kept, keptNewest, oldestKept, oldestMinute) = try await database.pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events")!,
             try Int64.fetchOne(db, sql: "SELECT MAX(ts) FROM events")!,
             try Int64.fetchOne(db, sql: "SELECT MIN(ts) FROM events")!,
             try Int64.fetchOne(db, sql: "SELECT MIN(minute) FROM product_minute")!)
        }
        #expect(kept == 40_000 - report.eventsDeleted)
        #expect(keptNewest == newest, "the newest events stay")
        #expect(oldestMinute >= oldestKept / 60_000, "aggregates cover the same span as the events")

        // Writing as much again reuses the freed pages: the file stops growing near the cap.
        let fileBefore = database.bytesOnDisk()
        try await fill(store, events: 10_000, startingAt: now, step: 1_000)
        try database.applyRetention(RetentionPolicy(maxBytes: cap), now: now)
        #expect(try database.bytesInUse() <= cap)
        #expect(database.bytesOnDisk() <= fileBefore + cap / 4, "no growth past the freed space")
    }

    @Test("no policy deletes nothing")
    func nothingByDefault() async throws {
        let database = try EmbeddedDatabase(directory: temporaryDirectory())
        let store = SQLiteEventStore(database: database)
        try await fill(store, events: 500, startingAt: 0, step: 1_000)
        let report = try database.applyRetention(RetentionPolicy())
        #expect(report.eventsDeleted == 0)
        #expect(try await store.eventCount() == 500)
    }
}
