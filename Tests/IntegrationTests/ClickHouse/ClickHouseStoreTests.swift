import Foundation
import Testing
import VectorStreamClickHouse
import VectorStreamCore

typealias CH = ClickHouseTestSupport

/// The event store against a real clickhouse-server, each test on its own database.
@Suite("ClickHouse event store")
struct ClickHouseStoreTests {
    static let hour: Int64 = 3_600_000
    static let first: Int64 = 1_767_225_600_000 + 17_000
    /// Whole data set; mid-minute and mid-hour; a minute boundary; an hour boundary; the last seconds.
    /// Both funnel plans: windows longer than an hour before the newest event, and shorter ones (40, 10 minutes,
    /// seconds).
    static let sinces: [Int64] = [0, first + 4_321_123, first - 17_000 + 47 * 60_000, first - 17_000 + 2 * hour,
                                  first + 11_999 * 997 - 2_400_000, first + 11_400 * 997, first + 11_990 * 997]

    @Test func migrationIsIdempotentAndVersioned() async throws {
        try await CH.withStore { store in
            let first = try await store.prepare()
            #expect(first.applied == [1, 2, 3])
            #expect(first.currentVersion == 3)
            let second = try await store.prepare()
            #expect(second.applied.isEmpty)
            #expect(second.currentVersion == 3)
            let db = store.client.configuration.database
            let versions = try await store.client.rows(
                "SELECT version, count() FROM `\(db)`.schema_migrations GROUP BY version ORDER BY version")
            #expect(versions == [["1", "1"], ["2", "1"], ["3", "1"]])
            let tables = Set(try await store.client.rows("SELECT name FROM system.tables WHERE database = '\(db)'").map { $0[0] })
            for name in ClickHouseSchema.tableNames { #expect(tables.contains(name), "missing table \(name)") }
            #expect(tables.contains("product_stats_minute_mv") && tables.contains("funnel_sessions_mv"))
            #expect(!tables.contains("session_funnel") && !tables.contains("session_funnel_hour_mv"))
            #expect(!tables.contains("session_steps") && !tables.contains("session_steps_mv"))
        }
    }

    @Test func columnTypesFollowTheServerVersion() async throws {
        try await CH.withStore { store in
            try await store.prepare()
            let version = try await store.client.serverVersion()
            let db = store.client.configuration.database
            let types = Dictionary(uniqueKeysWithValues: try await store.client.rows("""
                SELECT name, type FROM system.columns WHERE database = '\(db)' AND table = 'events'
                """).map { ($0[0], $0[1]) })
            let expected = ClickHouseColumnTypes(version: version)
            #expect(types["event_time"] == expected.dateTime)
            #expect(types["category"] == expected.dictionaryString)
            if version.major < 19 {
                #expect(types["event_time"] == "DateTime" && types["category"] == "String")
            }
        }
        #expect(ClickHouseVersion("18.16.1")?.hasDateTime64 == false)
        #expect(ClickHouseVersion("18.16.1")?.hasLowCardinality == false)
        #expect(ClickHouseVersion("23.8.2.7")?.hasDateTime64 == true)
        #expect(ClickHouseVersion("23.8.2.7")?.hasLowCardinality == true)
    }

    @Test func analyticsEqualFiguresComputedFromTheEvents() async throws {
        let events = CH.events()
        try await CH.withStore { store in
            for batch in stride(from: 0, to: events.count, by: 2_500) {
                try await store.store(Array(events[batch..<min(batch + 2_500, events.count)]))
            }
            #expect(try await store.eventCount() == Int64(events.count))
            for since in Self.sinces {
                for type in [EventType.view, .purchase, .addToCart, .search] {
                    let answer = try await store.topProducts(eventType: type, since: since, limit: 7)
                    let expected = CH.topProducts(events, type: type, since: since, limit: 7)
                    #expect(answer.map(\.productID) == expected.map(\.id), "top \(type) since \(since)")
                    #expect(answer.map(\.count) == expected.map(\.count), "top \(type) since \(since)")
                    for (a, e) in zip(answer, expected) {
                        #expect(abs(a.revenue - e.revenue) < 1e-6 * max(1, e.revenue))
                        let index = Int(a.productID.dropFirst(2))!
                        #expect(a.name == "Product \(index)\tquoted 'x'")
                        #expect(a.category == CH.categories[index % CH.categories.count])
                    }
                }
                #expect(try await store.funnel(since: since) == CH.funnel(events, since: since), "funnel since \(since)")
                let categories = try await store.categories(since: since)
                let expected = CH.categories(events, since: since)
                #expect(categories.count == expected.count)
                for stats in categories {
                    let e = try #require(expected[stats.category])
                    #expect(stats.events == e.events && stats.purchases == e.purchases, "\(stats.category) since \(since)")
                    #expect(abs(stats.revenue - e.revenue) < 1e-6 * max(1, e.revenue))
                }
                #expect(categories.map(\.revenue) == categories.map(\.revenue).sorted(by: >))
            }
            for user in ["u-0", "u-5", "u-39", "nobody"] {
                #expect(try await store.recentInteractions(userID: user, limit: 15) == CH.recent(events, user: user, limit: 15))
            }
        }
    }

    /// Session rows are partitioned by day: a session active on both sides of midnight keeps a row in each day
    /// (merges stay within a partition), and the funnel must still count it once.
    @Test func funnelCountsSessionsAcrossDayPartitionsOnce() async throws {
        let midnight: Int64 = 1_767_312_000_000  // 2026-01-02 00:00:00 UTC
        var events = CH.events(count: 4_000, seed: 5, start: midnight - 1_800_000 + 3_000)
        // A session with each funnel step on both sides of midnight.
        let template = events[0].event
        for (index, (type, offset)) in [(EventType.view, -5_000), (.view, 5_000), (.addToCart, -4_000),
                                         (.addToCart, 6_000), (.purchase, -3_000), (.purchase, 7_000)].enumerated() {
            let event = Event(eventID: "midnight-\(index)", timestamp: midnight + Int64(offset), userID: "u-night",
                              type: type, product: template.product, sessionID: "s-across-midnight")
            events.append(AcceptedEvent(event: event, raw: Array("{}".utf8),
                                        position: SourcePosition(topic: "night", partition: 0, offset: Int64(index)),
                                        arrivalNanos: 0))
        }
        try await CH.withStore { store in
            // The night session in two batches: one block would fold it into one row per step.
            let night = events.filter { $0.position.topic == "night" }
            try await store.store(night.filter { $0.event.timestamp < midnight })
            try await store.store(night.filter { $0.event.timestamp >= midnight })
            let generated = events.filter { $0.position.topic != "night" }
            for batch in stride(from: 0, to: generated.count, by: 500) {
                try await store.store(Array(generated[batch..<min(batch + 500, generated.count)]))
            }
            let db = store.client.configuration.database
            let days = try await store.client.scalar("SELECT uniqExact(_partition_id) FROM `\(db)`.funnel_sessions")
            #expect(days == "2")
            for (index, step) in ClickHouseSchema.funnelSteps.enumerated() {
                let keys = ClickHouseSchema.funnelKeyRange(stepIndex: index)
                let crossing = try await store.client.scalar("""
                    SELECT count() FROM (SELECT step_session FROM `\(db)`.funnel_sessions
                    WHERE step_session BETWEEN \(keys.lowerBound) AND \(keys.upperBound)
                    GROUP BY step_session HAVING uniqExact(_partition_id) > 1)
                    """)
                #expect((Int(crossing ?? "") ?? 0) > 0, "no \(step) session crosses midnight: the test proves nothing")
            }
            let last = events.map(\.event.timestamp).max()!
            for since in [0, midnight - 600_000, midnight - 1, midnight, midnight + 61_000, last - 300_000, last, last + 1] {
                #expect(try await store.funnel(since: since) == CH.funnel(events, since: since), "funnel since \(since)")
            }
        }
    }

    /// A database left by an older version gets `funnel_sessions` filled from `events`: from version 1
    /// (no session tables at all) and from version 2 (one shared `session_steps` table, dropped on the way).
    @Test(arguments: [1, 2])
    func upgradingBackfillsTheSessionTables(from version: Int) async throws {
        let events = CH.events(count: 3_000, seed: 9)
        try await CH.withStore { store in
            try await store.store(events)
            let db = store.client.configuration.database
            // Migration 2's statements do not depend on the column types.
            let types = ClickHouseColumnTypes(version: try await store.client.serverVersion())
            let schema = ClickHouseSchema(database: db, types: types)
            // Back to how that version left the database.
            try await store.client.execute("DROP TABLE `\(db)`.funnel_sessions_mv")
            try await store.client.execute("DROP TABLE `\(db)`.funnel_sessions")
            if version == 2 {
                for statement in schema.migrations[1].statements { try await store.client.execute(statement) }
            }
            try await store.client.execute("DROP TABLE `\(db)`.schema_migrations")
            try await store.client.execute("""
                CREATE TABLE `\(db)`.schema_migrations (version UInt32, description String, applied_at DateTime)
                ENGINE = ReplacingMergeTree ORDER BY version
                """)
            for old in 1...version {
                try await store.client.execute("INSERT INTO `\(db)`.schema_migrations VALUES (\(old), 'v\(old)', now())")
            }
            let report = try await store.prepare()
            #expect(report.applied == Array((version + 1)...3))
            let tables = Set(try await store.client.rows("SELECT name FROM system.tables WHERE database = '\(db)'").map { $0[0] })
            #expect(!tables.contains("session_steps") && tables.contains("funnel_sessions_mv"))
            for since in Self.sinces {
                #expect(try await store.funnel(since: since) == CH.funnel(events, since: since), "funnel since \(since)")
            }
            // New events after the upgrade reach the tables through the views.
            let more = CH.events(count: 500, seed: 10, startOffset: 10_000)
            try await store.store(more)
            #expect(try await store.funnel(since: 0) == CH.funnel(events + more, since: 0))
        }
    }

    @Test func replayingTheSameRangeTwiceLeavesEveryCountUnchanged() async throws {
        let events = CH.events(count: 6_000, seed: 11)
        try await CH.withStore { store in
            for batch in stride(from: 0, to: events.count, by: 1_000) {
                try await store.store(Array(events[batch..<min(batch + 1_000, events.count)]))
            }
            let before = try await CH.snapshot(store, sinces: Self.sinces)
            #expect(before.count == 6_000)

            // The same range again, once in the same batches and once cut differently, partly overlapping
            // new records: only the new ones count.
            for batch in stride(from: 0, to: events.count, by: 1_000) {
                try await store.store(Array(events[batch..<min(batch + 1_000, events.count)]))
            }
            for batch in stride(from: 0, to: events.count, by: 1_700) {
                try await store.store(Array(events[batch..<min(batch + 1_700, events.count)]))
            }
            let after = try await CH.snapshot(store, sinces: Self.sinces)
            #expect(after == before)

            // The raw rows too, without FINAL and without waiting for merges.
            let db = store.client.configuration.database
            #expect(try await store.client.scalar("SELECT count() FROM `\(db)`.events") == "6000")
            #expect(try await store.client.scalar("""
                SELECT sum(events) FROM `\(db)`.product_stats WHERE granularity = 60
                """) == "6000")

            // A batch of new positions mixed with old ones stores only the new ones.
            let more = CH.events(count: 200, seed: 12, startOffset: 3_000)
            try await store.store(Array(events.suffix(300)) + more)
            #expect(try await store.eventCount() == 6_200)
        }
    }

    @Test func serverErrorsCarryTheirCodeAndMessage() async throws {
        try await CH.withStore { store in
            do {
                _ = try await store.client.rows("SELEC 1")
                Issue.record("a syntax error was accepted")
            } catch let error as ClickHouseError {
                guard case .server(let code, let message) = error else { Issue.record("\(error)"); return }
                #expect(code == 62)
                #expect(message.hasPrefix("Syntax error"))
                #expect(!error.isTransient)
            }
            do {
                _ = try await store.client.rows("SELECT * FROM no_such_db_here.no_such_table")
                Issue.record("an unknown table was accepted")
            } catch let error as ClickHouseError {
                guard case .server(let code, _) = error else { Issue.record("\(error)"); return }
                #expect(code == 81 || code == 60)  // unknown database (or table, by version)
            }
            // A failure after streaming began: the server appends the exception to the body.
            do {
                _ = try await store.client.rows("""
                    SELECT throwIf(number = 150000) FROM system.numbers LIMIT 300000
                    """, settings: ["max_block_size": "1000"])
                Issue.record("a failing query returned")
            } catch let error as ClickHouseError {
                guard case .server(let code, _) = error else { Issue.record("\(error)"); return }
                #expect(code == 395)
            }
        }
    }

    @Test func errorTextOfOldAndNewServersParses() {
        let old = ClickHouseError.parse(
            "Code: 60, e.displayText() = DB::Exception: Table default.nope doesn't exist., e.what() = DB::Exception\n")
        #expect(old == .server(code: 60, message: "Table default.nope doesn't exist."))
        let new = ClickHouseError.parse(
            "Code: 62. DB::Exception: Syntax error: failed at position 1 ('SELEC'). (SYNTAX_ERROR) (version 23.8.2.7 (official build))\n")
        #expect(new == .server(code: 62, message: "Syntax error: failed at position 1 ('SELEC'). (SYNTAX_ERROR)"))
        #expect(ClickHouseError.parse("whatever", headerCode: 241, status: 500) == .server(code: 241, message: "whatever"))
        #expect(ClickHouseError.parse("<html>bad gateway</html>", status: 502)
            == .unexpectedResponse(status: 502, body: "<html>bad gateway</html>"))
        #expect(ClickHouseError.server(code: 241, message: "memory").isTransient)
    }

    @Test func credentialsAreSentAndNeverShown() async throws {
        let url = try CH.serverURL()
        let good = ClickHouseClient(configuration: ClickHouseConfiguration(
            url: url, user: "vectorstream", password: "vectorstream-test"))
        let bad = ClickHouseClient(configuration: ClickHouseConfiguration(
            url: url, user: "vectorstream", password: "not-the-password-42"))
        defer { Task { try? await good.shutdown(); try? await bad.shutdown() } }
        #expect(try await good.scalar("SELECT 1") == "1")
        do {
            _ = try await bad.scalar("SELECT 1")
            Issue.record("a wrong password was accepted")
        } catch let error as ClickHouseError {
            guard case .server(let code, _) = error else { Issue.record("\(error)"); return }
            #expect(code == 193 || code == 516)
            #expect(!"\(error)".contains("not-the-password-42"))
        }
        #expect(!"\(bad.configuration)".contains("not-the-password-42"))
    }

    @Test func resultsStreamCompressedAndEscapesRoundTrip() async throws {
        let url = try CH.serverURL()
        for compression in [true, false] {
            let client = ClickHouseClient(configuration: ClickHouseConfiguration(url: url, compression: compression))
            var count = 0
            var sum = 0
            for try await row in try await client.query("SELECT number, toString(number) FROM system.numbers LIMIT 200000") {
                #expect(row.count == 2 && row[0] == row[1])
                count += 1
                sum += Int(row[0]) ?? 0
            }
            #expect(count == 200_000)
            #expect(sum == 199_999 * 200_000 / 2)
            let tricky = try await client.rows("SELECT 'a\\tb\\nc\\\\d', '', 'x'")
            #expect(tricky == [["a\tb\nc\\d", "", "x"]])
            try await client.shutdown()
        }
    }
}
