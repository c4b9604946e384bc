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

    @Test("events, aggregates, dead letters and metrics older than the retention are deleted; newer ones stay")
    func byAge() async throws {
        let database = try EmbeddedDatabase(directory: temporaryDirectory())
        let store = SQLiteEventStore(database: database)
        let now = wallClockMillis()
        // 3,000 events over the last 3 hours, one every 3.6 s.
        try await fill(store, events: 3_000, startingAt: now - 3 * 3_600_000, step: 3_600)
        let before = try await store.eventCount()
        #expect(before == 3_000)

        let report = try database.applyRetention(RetentionPolicy(maxAge: .seconds(3_600)), now: now)
        let (count, oldest, oldestMinute) = try await database.pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events")!,
             try Int64.fetchOne(db, sql: "SELECT MIN(ts) FROM events")!,
             try Int64.fetchOne(db, sql: "SELECT MIN(minute) FROM product_minute")!)
        }
        #expect(abs(count - 1_000) <= 2, "about the last hour's third kept, got \(count)")
        #expect(report.eventsDeleted == 3_000 - count)
        #expect(oldest >= now - 3_600_000)
        #expect(oldestMinute >= (now - 3_600_000) / 60_000)
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
