import Foundation
import Testing
import VectorStreamCore
import VectorStreamEmbedded

/// What `GET /v1/dead-letters` pages through: newest first, by reason, with an excerpt of the record.
@Suite("Dead-letter samples from the embedded store")
struct DeadLetterReaderTests {
    @Test("paged newest first without gaps or repeats; filtered by reason; excerpts bounded")
    func pagingAndFiltering() async throws {
        let database = try EmbeddedDatabase(directory: temporaryDirectory())
        let store = SQLiteEventStore(database: database)
        for round in 0..<5 {
            let records = (0..<10).map { i in
                RejectedRecord(raw: Array(String(repeating: "x", count: i == 0 ? 5_000 : 20).utf8),
                               reason: i % 2 == 0 ? .notJSON("bad") : .missingField("user_id"),
                               position: SourcePosition(topic: "t", partition: Int32(i % 3), offset: Int64(round * 10 + i)))
            }
            try await store.store(records)
            try await Task.sleep(for: .milliseconds(3))
        }
        var seen: [SourcePosition] = []
        var cursor: DeadLetterCursor?
        var previous: EpochMillis = .max
        while true {
            let page = try await store.deadLetters(reason: nil, limit: 7, before: cursor)
            if page.isEmpty { break }
            for sample in page {
                #expect(sample.rejectedAt <= previous, "newest first")
                previous = sample.rejectedAt
                #expect(sample.excerpt.utf8.count <= DeadLetterSample.excerptBytes)
            }
            seen += page.map(\.position)
            cursor = try #require(DeadLetterCursor(text: page.last!.cursor.text), "the cursor's text form parses")
        }
        #expect(seen.count == 50)
        #expect(Set(seen).count == 50, "no repeats across pages")
        let big = try await store.deadLetters(reason: nil, limit: 50, before: nil).first { $0.bytes == 5_000 }
        #expect(big?.excerpt.count == DeadLetterSample.excerptBytes)

        let missing = try await store.deadLetters(reason: "missing_field", limit: 100, before: nil)
        #expect(missing.count == 25)
        #expect(missing.allSatisfy { $0.code == "missing_field" && $0.reason == "missing field 'user_id'" })
        #expect(try await store.deadLetterCounts() == ["not_json": 25, "missing_field": 25])
    }

    @Test("a cursor's text form survives topic names with dots")
    func cursorText() {
        let cursor = DeadLetterCursor(rejectedAt: 1_700_000_000_123, topic: "shop.events.v2", partition: 7, offset: 42)
        #expect(DeadLetterCursor(text: cursor.text) == cursor)
        #expect(DeadLetterCursor(text: "garbage") == nil)
        // Found by schemathesis: a topic starting with an emoji modifier joins the dot into one character.
        let odd = DeadLetterCursor(rejectedAt: 93_950_971_116_510, topic: "\u{1F3FB}", partition: 13_049_025, offset: 89)
        #expect(DeadLetterCursor(text: odd.text) == odd)
    }
}
