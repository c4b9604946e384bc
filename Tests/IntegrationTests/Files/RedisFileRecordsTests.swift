import RedisClient
import Testing
import VectorStreamCore
import VectorStreamRedis

/// File records in a real Redis: the claim's outcomes (won, held by another live lease, taken over after it ran
/// out, done, failed until retried), one winner among workers claiming at once, saves only by the holder, paging
/// newest first, and what a starting worker finishes.
@Suite("Files: records in Redis")
struct RedisFileRecordsTests {
    static func store() throws -> (RedisFileMetadataStore, RedisClient) {
        let client = RedisClient(configuration: try RedisTestServer.clientConfiguration())
        return (RedisFileMetadataStore(client: client, keyPrefix: RedisTestServer.uniquePrefix()), client)
    }

    static func record(_ c: Character, at t: EpochMillis) -> FileRecord {
        let sha = String(repeating: c, count: 64)
        return FileRecord(sha256: sha, name: "\(c).csv", size: 3, kind: .catalog, contentType: "text/csv",
                          objectKey: FileCatalog.objectKey(sha256: sha), uploadedAt: t)
    }

    @Test func claimOutcomesAndOneWinnerAmongMany() async throws {
        let (store, client) = try Self.store()
        defer { Task { await client.close() } }
        let r = Self.record("a", at: 1_000)
        #expect(try await store.register(r) == .created(r))
        if case .existing = try await store.register(r) {} else { Issue.record("registered twice") }
        // Ten workers at once: exactly one wins, the others see it held.
        let outcomes = try await withThrowingTaskGroup(of: FileClaimOutcome.self) { group in
            for w in 0..<10 {
                group.addTask { try await store.claim(sha256: r.sha256, holder: "w\(w)", lease: .seconds(30), now: 10_000) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let winners = outcomes.compactMap { if case .won(let rec) = $0 { rec } else { nil } }
        #expect(winners.count == 1)
        #expect(outcomes.filter { if case .heldElsewhere = $0 { true } else { false } }.count == 9)
        let holder = try #require(winners.first?.holder)
        #expect(winners.first?.attempts == 1 && winners.first?.status == .processing)
        #expect(try await store.renew(sha256: r.sha256, holder: "nobody", lease: .seconds(30), now: 11_000) == false)
        #expect(try await store.renew(sha256: r.sha256, holder: holder, lease: .seconds(30), now: 11_000))
        // Its lease (now until 41,000) runs out: a later claim takes it over; the old holder can no longer save.
        #expect(try await store.unfinished(now: 20_000, limit: 10).isEmpty)
        #expect(try await store.unfinished(now: 41_000, limit: 10).map(\.sha256) == [r.sha256])
        guard case .won(let taken) = try await store.claim(sha256: r.sha256, holder: "late", lease: .seconds(30), now: 41_000) else {
            Issue.record("expired lease not taken over"); return
        }
        #expect(taken.attempts == 2)
        var done = taken
        done.status = .done
        done.counts.rowsAccepted = 7
        #expect(try await store.save(done, holder: holder) == false)
        #expect(try await store.save(done, holder: "late"))
        let stored = try #require(try await store.record(sha256: r.sha256))
        #expect(stored.status == .done && stored.counts.rowsAccepted == 7 && stored.holder == "late")
        if case .done = try await store.claim(sha256: r.sha256, holder: "w1", lease: .seconds(30), now: 50_000) {} else {
            Issue.record("done file claimable")
        }
        #expect(try await store.unfinished(now: 99_000, limit: 10).isEmpty)
    }

    @Test func failedRetriedAndPagedNewestFirst() async throws {
        let (store, client) = try Self.store()
        defer { Task { await client.close() } }
        for (i, c) in "bcdef".enumerated() { _ = try await store.register(Self.record(c, at: EpochMillis(i < 2 ? 5 : 9))) }
        guard case .won(var won) = try await store.claim(sha256: String(repeating: "b", count: 64), holder: "w", lease: .seconds(5), now: 1) else {
            Issue.record("claim"); return
        }
        won.status = .failed
        won.error = "bad header"
        #expect(try await store.save(won, holder: "w"))
        if case .failed(let f) = try await store.claim(sha256: won.sha256, holder: "x", lease: .seconds(5), now: 2) {
            #expect(f.error == "bad header")
        } else { Issue.record("failed file claimable") }
        // A failed file is counted as failed, not as done (it was, before the failed set).
        #expect(try await store.statusCounts() == [.failed: 1, .queued: 4])
        guard case .requeued(let again) = try await store.requeue(sha256: won.sha256) else { Issue.record("requeue"); return }
        #expect(again.status == .queued && again.error == "bad header")
        if case .notFailed = try await store.requeue(sha256: won.sha256) {} else { Issue.record("requeued twice") }
        #expect(try await store.requeue(sha256: String(repeating: "9", count: 64)) == .notFound)
        #expect(try await store.statusCounts() == [.queued: 5])

        var seen: [Character] = []
        var cursor: FileCursor?
        repeat {
            let page = try await store.list(limit: 2, after: cursor)
            seen += page.records.map { $0.sha256.first! }
            cursor = page.next.flatMap(FileCursor.init)
        } while cursor != nil
        #expect(seen == ["f", "e", "d", "c", "b"])
    }
}
