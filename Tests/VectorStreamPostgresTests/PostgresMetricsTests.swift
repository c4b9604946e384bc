import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Testing
import VectorStreamCore
import VectorStreamServer
@testable import VectorStreamPostgres

/// A small deterministic generator for the test figures.
struct TestRandom {
    var state: UInt64
    mutating func next(_ range: ClosedRange<Int64>) -> Int64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return range.lowerBound + Int64((state >> 33) % UInt64(range.upperBound - range.lowerBound + 1))
    }
}

/// Snapshots of `workers` every 2-7 s over `minutes`, with counters, latencies and lag that move.
func makeSnapshots(workers: [String], start: EpochMillis, minutes: Int, seed: UInt64 = 7) -> [MetricsSnapshot] {
    var random = TestRandom(state: seed)
    var out: [MetricsSnapshot] = []
    for worker in workers {
        var t = start + random.next(0...3000)
        var s = PipelineStats()
        while t < start + Int64(minutes) * 60_000 {
            let n = random.next(0...400)
            let rejected = random.next(0...(n / 10))
            s.eventsTotal += n
            s.eventsRejected += rejected
            s.eventsValid += n - rejected
            s.eventsStored += max(0, n - rejected - random.next(0...5))
            s.productsEmbedded += random.next(0...20)
            s.batches += n > 0 ? 1 : 0
            let quiet = random.next(0...9) == 0
            s.recentLatencyP50Millis = quiet ? 0 : Double(random.next(5...50))
            s.recentLatencyP99Millis = quiet ? 0 : s.recentLatencyP50Millis * 2 + Double(random.next(0...30))
            s.lagByPartition = random.next(0...5) == 0 ? [:] : ["events[0]": random.next(0...900), "events[1]": random.next(0...900)]
            s.recentStageMillis = ["parse": StageLatency(p50Millis: 1, p99Millis: 2, batches: 3)]
            out.append(MetricsSnapshot(worker: worker, at: t, stats: s))
            t += random.next(2000...7000)
        }
    }
    return out
}

/// The points a writer would have written for these snapshots (each worker's first snapshot is its baseline).
func points(for snapshots: [MetricsSnapshot]) -> [MetricPoint] {
    var out: [MetricPoint] = []
    for (worker, series) in Dictionary(grouping: snapshots, by: \.worker) {
        let sorted = series.sorted { $0.at < $1.at }
        // The first snapshot's gauges count (SQLite reads them); its counters are the baseline.
        var first = MetricsSampler(worker: worker, baseline: MetricsObservation(at: sorted[0].at - 1, stats: sorted[0].stats))
        out += first.points(MetricsObservation(at: sorted[0].at, stats: sorted[0].stats)).filter { !$0.isCounter }
        var sampler = MetricsSampler(worker: worker, baseline: MetricsObservation(at: sorted[0].at, stats: sorted[0].stats))
        for s in sorted.dropFirst() { out += sampler.points(MetricsObservation(at: s.at, stats: s.stats)) }
    }
    return out
}

@Suite("PostgresHistoryTests", .enabled(if: PostgresTestServer.url != nil, "PostgreSQL could not be started (scripts/services/postgres.sh)"))
struct PostgresHistoryTests {
    /// The same snapshots through SQLite's bucketing and through the PostgreSQL points and rollup give the same
    /// series, for every metric, several steps (raw points and the rollup), per worker and summed.
    @Test func sameAnswersAsSnapshotHistory() async throws {
        try await PostgresTestServer.withDatabase { client, _ in
            _ = try await MetricsSchema.migrate(client, retention: .seconds(86_400), logger: PostgresTestServer.logger)
            let now = wallClockMillis()
            let start = (now / 60_000 - 40) * 60_000 + 1234
            let snapshots = makeSnapshots(workers: ["w1", "w2"], start: start, minutes: 30)
            let all = points(for: snapshots)
            // Written in pieces, as a writer does, so rollup rows are merged by ON CONFLICT.
            for chunk in stride(from: 0, to: all.count, by: 700) {
                try await PostgresMetricsStore.write(Array(all[chunk..<min(chunk + 700, all.count)]), to: client,
                                                     logger: PostgresTestServer.logger)
            }
            let sqlite = SnapshotMetricsHistory { from, to, _, worker in
                snapshots.filter { $0.at >= from && $0.at <= to && (worker == nil || $0.worker == worker) }
            }
            let postgres = PostgresMetricsHistory(client: client)
            var compared = 0
            for step in [7, 10, 60, 300, 600, 900] {
                let stepMillis = Int64(step) * 1000
                let to = (now / stepMillis + 1) * stepMillis
                let from = to - Int64((45 * 60 + step - 1) / step) * stepMillis
                for metric in HistoryMetric.allCases {
                    for worker in [nil, "w2"] as [String?] {
                        let q = MetricsHistoryQuery(metric: metric, from: from, to: to, stepSeconds: step, worker: worker)
                        let a = try await sqlite.series(q).values
                        let b = try await postgres.series(q).values
                        #expect(a.count == b.count)
                        for (i, (x, y)) in zip(a, b).enumerated() {
                            switch (x, y) {
                            case (nil, nil): break
                            case let (x?, y?):
                                #expect(abs(x - y) <= 1e-6 * max(1, abs(x)), "\(metric) step \(step) worker \(worker ?? "all") bucket \(i): sqlite \(x), postgres \(y)")
                                compared += 1
                            default:
                                Issue.record("\(metric) step \(step) worker \(worker ?? "all") bucket \(i): sqlite \(String(describing: x)), postgres \(String(describing: y))")
                            }
                        }
                    }
                }
            }
            #expect(compared > 1000)
        }
    }

    /// Each counter's points add up to its total (a baseline of zeros at start).
    @Test func countersAddUpToTotals() async throws {
        try await PostgresTestServer.withDatabase { client, _ in
            _ = try await MetricsSchema.migrate(client, retention: .seconds(86_400), logger: PostgresTestServer.logger)
            let snapshots = makeSnapshots(workers: ["w1"], start: wallClockMillis() - 20 * 60_000, minutes: 15)
            var sampler = MetricsSampler(worker: "w1", baseline: MetricsObservation(at: snapshots[0].at - 1000, stats: PipelineStats()))
            var all: [MetricPoint] = []
            for s in snapshots { all += sampler.points(MetricsObservation(at: s.at, stats: s.stats, deadLettersByReason: ["not_json": s.stats.eventsRejected])) }
            try await PostgresMetricsStore.write(all, to: client, logger: PostgresTestServer.logger)
            let last = snapshots.last!.stats
            let stored = try await PostgresTestServer.scalar(client, "SELECT sum(value)::bigint FROM vectorstream_metric_points WHERE metric = 'events_stored'", as: Int64.self)
            #expect(stored == last.eventsStored)
            let rolled = try await PostgresTestServer.scalar(client, "SELECT round(sum(sum))::bigint FROM vectorstream_metric_rollup_1m WHERE metric = 'events_stored'", as: Int64.self)
            #expect(rolled == last.eventsStored)
            let dead = try await PostgresTestServer.scalar(client, "SELECT sum(value)::bigint FROM vectorstream_metric_points WHERE metric = 'dead_letters' AND label = 'not_json'", as: Int64.self)
            #expect(dead == last.eventsRejected)
        }
    }
}

@Suite("PostgresSchemaTests", .enabled(if: PostgresTestServer.url != nil, "PostgreSQL could not be started (scripts/services/postgres.sh)"))
struct PostgresSchemaTests {
    /// Four workers migrating one database at once: versions 1 and 2 applied exactly once, nothing fails.
    @Test func concurrentMigrationsDoNotConflict() async throws {
        try await PostgresTestServer.withDatabase { _, url in
            let reports = try await withThrowingTaskGroup(of: MigrationReport.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await PostgresTestServer.withClient(url) {
                            try await MetricsSchema.migrate($0, retention: .seconds(86_400), logger: PostgresTestServer.logger)
                        }
                    }
                }
                var out: [MigrationReport] = []
                for try await r in group { out.append(r) }
                return out
            }
            #expect(reports.filter { $0.applied == [1, 2] }.count == 1)
            #expect(reports.filter { $0.applied.isEmpty }.count == 3)
            #expect(reports.allSatisfy { $0.version == 2 && $0.storage == .partitioned })
            try await PostgresTestServer.withClient(url) { client in
                let versions = try await PostgresTestServer.scalar(client, "SELECT count(*) FROM vectorstream_schema_migrations", as: Int64.self)
                #expect(versions == 2)
                // BRIN on time with autosummarize, on each day partition.
                let brin = try await PostgresTestServer.scalar(client, """
                    SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'vectorstream_metric_points_p%'
                    AND indexdef LIKE '%USING brin%' AND indexdef LIKE '%autosummarize%'
                    """, as: Int64.self)
                #expect(brin == Int64(MetricsSchema.daysAhead + 1))
                // Again: nothing to apply.
                let again = try await MetricsSchema.migrate(client, retention: .seconds(86_400), logger: PostgresTestServer.logger)
                #expect(again.applied.isEmpty)
            }
        }
    }

    /// Migration 2 on a database that already keeps history (written by version 1): the 5-minute rollup is filled
    /// from the 1-minute one with exactly what the writer would have written into it.
    @Test func migrationTwoFillsTheFiveMinuteRollup() async throws {
        try await PostgresTestServer.withDatabase { client, _ in
            let logger = PostgresTestServer.logger
            _ = try await MetricsSchema.migrate(client, retention: .seconds(86_400), logger: logger)
            let start = (wallClockMillis() / 60_000 - 50) * 60_000 + 777
            let all = points(for: makeSnapshots(workers: ["w1", "w2"], start: start, minutes: 40))
            for chunk in stride(from: 0, to: all.count, by: 500) {
                try await PostgresMetricsStore.write(Array(all[chunk..<min(chunk + 500, all.count)]), to: client, logger: logger)
            }
            let digest = """
                SELECT count(*) || ' ' || round(sum(sum)::numeric, 3) || ' ' || sum(count) || ' ' || round(sum(coalesce(max, 0))::numeric, 3)
                       || ' ' || sum(covered_ms) || ' ' || count(last_time) || ' ' || round(sum(coalesce(last_value, 0))::numeric, 3)
                FROM vectorstream_metric_rollup_5m
                """
            let written = try await PostgresTestServer.scalar(client, digest, as: String.self)
            // As a version-1 database: no 5-minute rollup, migration 2 not applied.
            try await client.query("DROP TABLE vectorstream_metric_rollup_5m", logger: logger)
            try await client.query("DELETE FROM vectorstream_schema_migrations WHERE version = 2", logger: logger)
            let report = try await MetricsSchema.migrate(client, retention: .seconds(86_400), logger: logger)
            #expect(report.applied == [2])
            let filled = try await PostgresTestServer.scalar(client, digest, as: String.self)
            #expect(written != nil && filled == written, "written \(written ?? "-"), filled \(filled ?? "-")")
            let rows = try await PostgresTestServer.scalar(client, "SELECT count(*) FROM vectorstream_metric_rollup_5m", as: Int64.self) ?? 0
            #expect(rows > 100)
        }
    }

    /// Retention of minutes: the partitions of past days are dropped (one worker does it; a second at once skips
    /// or finds nothing left), today's and those ahead stay, and points of today still read.
    @Test func retentionDropsOldPartitions() async throws {
        try await PostgresTestServer.withDatabase { client, url in
            let logger = PostgresTestServer.logger
            _ = try await MetricsSchema.migrate(client, retention: .seconds(300), logger: logger)
            let now = wallClockMillis()
            // Partitions of five days ago onwards, as a worker running then would have made them, with a point.
            _ = try await MetricsSchema.maintain(client, retention: .seconds(30 * 86_400), now: now - 5 * 86_400_000, logger: logger)
            try await PostgresMetricsStore.write([
                MetricPoint(at: now - 5 * 86_400_000 + 1000, worker: "w1", metric: "events_stored", value: 5, spanMillis: 1000),
                MetricPoint(at: now - 1000, worker: "w1", metric: "events_stored", value: 7, spanMillis: 1000),
            ], to: client, logger: logger)
            let before = try await PostgresTestServer.scalar(client, "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'vectorstream_metric_points'", as: Int64.self) ?? 0
            #expect(before >= 6)
            let outcomes = try await withThrowingTaskGroup(of: MaintenanceOutcome.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await PostgresTestServer.withClient(url) {
                            try await MetricsSchema.maintain($0, retention: .seconds(300), logger: logger)
                        }
                    }
                }
                var out: [MaintenanceOutcome] = []
                for try await o in group { out.append(o) }
                return out
            }
            let dropped: [String] = outcomes.flatMap { o -> [String] in
                if case .done(_, let d) = o { return d }
                return []
            }
            #expect(Set(dropped).count == dropped.count, "a partition dropped twice: \(dropped)")
            #expect(dropped.contains(MetricsSchema.partitionName(MetricsSchema.points, dayStart: (now - 5 * 86_400_000) / 86_400_000 * 86_400_000)))
            let today = (now / 86_400_000) * 86_400_000
            var remaining: [String] = []
            for try await name in try await client.query("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'vectorstream_metric_points'").decode(String.self) {
                remaining.append(name)
            }
            #expect(remaining.allSatisfy { (MetricsSchema.dayStart(ofPartition: $0) ?? 0) >= today }, "\(remaining)")
            #expect(remaining.count == MetricsSchema.daysAhead + 1)
            let sum = try await PostgresTestServer.scalar(client, "SELECT sum(value)::bigint FROM vectorstream_metric_points", as: Int64.self)
            #expect(sum == 7)
        }
    }

    @Test(.enabled(if: PostgresTestServer.timescaleAvailable,
                   "TimescaleDB is not available on this server (Debian's PostgreSQL 15 has no package); its branch is untested here"))
    func timescaleBranch() async throws {
        try await PostgresTestServer.withDatabase { client, _ in
            let report = try await MetricsSchema.migrate(client, retention: .seconds(86_400), logger: PostgresTestServer.logger)
            #expect(report.storage == .timescale)
            let hypertables = try await PostgresTestServer.scalar(client, "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'vectorstream_metric_points'", as: Int64.self)
            #expect(hypertables == 1)
            let all = points(for: makeSnapshots(workers: ["w1"], start: wallClockMillis() - 10 * 60_000, minutes: 5))
            try await PostgresMetricsStore.write(all, to: client, logger: PostgresTestServer.logger)
        }
    }
}

@Suite("PostgresWriterTests", .enabled(if: PostgresTestServer.url != nil, "PostgreSQL could not be started (scripts/services/postgres.sh)"))
struct PostgresWriterTests {
    static func settings(_ url: String, buffer: Int, interval: Duration = .milliseconds(200)) -> VectorStreamConfiguration.PostgresSettings {
        var s = VectorStreamConfiguration.PostgresSettings()
        s.url = url
        s.bufferPoints = buffer
        s.writeInterval = interval
        return s
    }

    /// Figures that move: each call adds 100 events.
    final class Figures: Sendable {
        let stats = Mutex(PipelineStats())
        func observe() -> MetricsObservation {
            let s = stats.withLock { s -> PipelineStats in
                s.eventsTotal += 100; s.eventsValid += 100; s.eventsStored += 100; s.batches += 1
                return s
            }
            return MetricsObservation(at: wallClockMillis(), stats: s, dependencies: ["events": .ok])
        }
    }

    /// Nobody listening: nothing waits, the buffer keeps the newest points, drops are counted and health says
    /// degraded without the password.
    @Test func unreachableServerKeepsNewestPoints() async throws {
        let store = try PostgresMetricsStore(settings: Self.settings("postgres://vectorstream:secret-pw@127.0.0.1:9/x?sslmode=disable", buffer: 100),
                                             worker: "w1", callTimeout: .seconds(1))
        store.enqueue((0..<250).map { MetricPoint(at: Int64($0), worker: "w1", metric: "m", value: Double($0)) })
        #expect(store.counts().buffered == 100)
        #expect(store.counts().dropped == 150)
        let figures = Figures()
        let run = Task { await store.run { figures.observe() } }
        try await Task.sleep(for: .seconds(2))
        let health = await store.checkHealth()
        guard case .degraded(let reason) = health else { Issue.record("expected degraded, got \(health)"); run.cancel(); return }
        #expect(!reason.contains("secret-pw"))
        #expect(!"\(store.endpoint)".contains("secret-pw"))
        let start = ContinuousClock.now
        run.cancel()
        await run.value
        #expect(start.duration(to: .now) < .seconds(8))
        #expect(store.counts().buffered == 100)
    }

    /// PostgreSQL killed for 5 s while a worker writes every 200 ms with room for few points: health degraded
    /// during the outage, drops counted, and writing resumes by itself after the restart.
    @Test func outageIsCountedAndWritingResumes() async throws {
        let url = try PostgresTestServer.script("scripts/services/postgres.sh", ["start-instance", "pg-outage", "15442"])
        defer { _ = try? PostgresTestServer.script("scripts/services/postgres.sh", ["stop-instance", "pg-outage"]) }
        // A worker name of its own: the instance's data outlives a run, and the sums below must see this run only.
        let worker = "outage-\(UInt32.random(in: 0...UInt32.max))"
        let store = try PostgresMetricsStore(settings: Self.settings(url, buffer: 60), worker: worker, callTimeout: .seconds(2))
        let figures = Figures()
        let run = Task { await store.run { figures.observe() } }
        defer { run.cancel() }
        try await waitUntil(.seconds(30)) { store.counts().written > 30 }
        try PostgresTestServer.script("scripts/services/postgres.sh", ["kill-instance", "pg-outage"])
        try await Task.sleep(for: .seconds(5))
        guard case .degraded = await store.checkHealth() else { Issue.record("not degraded during the outage"); return }
        let droppedDuring = store.counts().dropped
        #expect(droppedDuring > 0)
        let writtenBefore = store.counts().written
        try PostgresTestServer.script("scripts/services/postgres.sh", ["start-instance", "pg-outage", "15442"])
        try await waitUntil(.seconds(30)) { store.counts().written > writtenBefore + 30 }
        #expect(await store.checkHealth() == .ok)
        run.cancel()
        await run.value
        try await PostgresTestServer.withClient(url) { client in
            // The gap is counted in the history too, and points after the restart are there.
            let dropped = try await PostgresTestServer.scalar(client, "SELECT coalesce(sum(value), 0)::bigint FROM vectorstream_metric_points WHERE metric = 'metrics_points_dropped' AND worker = '\(worker)'", as: Int64.self) ?? 0
            #expect(dropped > 0)
            let stored = try await PostgresTestServer.scalar(client, "SELECT sum(value)::bigint FROM vectorstream_metric_points WHERE metric = 'events_stored' AND worker = '\(worker)'", as: Int64.self) ?? 0
            // Which metrics' points the full buffer dropped depends on timing (the oldest go first, whatever
            // their metric), so events_stored may or may not show the gap; it never exceeds the truth.
            let total = figures.stats.withLock { $0.eventsStored }
            #expect(stored <= total)
            #expect(stored > 0)
        }
    }

    /// A graceful shutdown (SIGTERM in `vectorstream run`) writes the last sample at once: the points add up to the
    /// final figures, and the group ends well within the 5 s the last write may take. Before the client ran
    /// detached, it inherited the shutdown and closed its pool first: the last write failed for 5 s and was lost.
    @Test func gracefulShutdownWritesTheLastPoints() async throws {
        let url = try #require(PostgresTestServer.url)
        let worker = "shutdown-\(UInt32.random(in: 0...UInt32.max))"
        let store = try PostgresMetricsStore(settings: Self.settings(url, buffer: 10_000, interval: .seconds(60)),
                                             worker: worker, callTimeout: .seconds(2))
        let figures = Figures()
        let group = ServiceGroup(services: [PostgresMetricsService(store: store) { figures.observe() }],
                                 logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        try await waitUntil(.seconds(30)) { store.isSchemaReady }
        try await Task.sleep(for: .milliseconds(300))
        let start = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await running.value
        let took = start.duration(to: .now)
        #expect(took < .seconds(3), "shutdown took \(took)")
        #expect(store.counts().buffered == 0)
        let total = figures.stats.withLock { $0.eventsStored }
        try await PostgresTestServer.withClient(url) { client in
            let stored = try await PostgresTestServer.scalar(client, "SELECT coalesce(sum(value), 0)::bigint FROM vectorstream_metric_points WHERE metric = 'events_stored' AND worker = '\(worker)'", as: Int64.self) ?? 0
            #expect(stored == total)
        }
    }

    func waitUntil(_ limit: Duration, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while !condition() {
            if ContinuousClock.now > deadline { throw PostgresTestServer.ScriptFailure(description: "condition not met within \(limit)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

@Suite("PostgresEndpointTests")
struct PostgresEndpointTests {
    @Test func parsesAndMasks() throws {
        let e = try PostgresEndpoint(url: "postgres://vs:p%40ss@db.example:6543/metrics?sslmode=require")
        #expect(e.host == "db.example" && e.port == 6543 && e.user == "vs" && e.password == "p@ss" && e.database == "metrics" && e.requireTLS)
        #expect(!e.description.contains("p@ss") && !e.description.contains("p%40ss"))
        #expect(throws: ConfigurationError.self) { try PostgresEndpoint(url: "postgres://vs:pw@h/db?sslmode=verify-full") }
        #expect(throws: ConfigurationError.self) { try PostgresEndpoint(url: "http://vs:pw@h/db") }
        do { _ = try PostgresEndpoint(url: "mysql://vs:topsecret@h/db") } catch { #expect(!"\(error)".contains("topsecret")) }
    }

    @Test func configurationKeys() throws {
        var c = VectorStreamConfiguration()
        try c.apply(file: [:], origin: "test", environment: [
            "VECTORSTREAM_POSTGRES_URL": "postgres://vs:hunter2@127.0.0.1:5432/db?sslmode=disable",
            "VECTORSTREAM_POSTGRES_WRITE_INTERVAL": "2s", "VECTORSTREAM_POSTGRES_RETENTION": "30d",
            "VECTORSTREAM_POSTGRES_BUFFER_POINTS": "5000",
        ])
        #expect(c.postgres.writeInterval == .seconds(2))
        #expect(c.postgres.retention == .seconds(30 * 86_400))
        #expect(c.postgres.bufferPoints == 5000)
        #expect(!c.rendered().contains("hunter2"))
        #expect(c.rendered().contains("postgres.url") || c.rendered().contains("url: "))
        var bad = VectorStreamConfiguration()
        #expect(throws: ConfigurationError.self) {
            try bad.apply(file: [:], origin: "test", environment: ["VECTORSTREAM_POSTGRES_WRITE_INTERVAL": "5"])
        }
        #expect(throws: ConfigurationError.self) {
            try bad.apply(file: [:], origin: "test", environment: ["VECTORSTREAM_POSTGRES_URL": "postgres://a:b@h/db?sslmode=verify-ca"])
        }
    }

    /// A counter's increase split over the minutes its span covers, in proportion to time.
    @Test func rollupSplitsCountersOverMinutes() {
        let p = MetricPoint(at: 120_000 + 30_000, worker: "w", metric: "events_stored", value: 90, spanMillis: 90_000)
        let rows = RollupRow.rows(for: [p]).sorted { $0.minute < $1.minute }
        #expect(rows.map(\.minute) == [60_000, 120_000])
        #expect(rows.map(\.sum) == [60, 30])
        #expect(rows.map(\.coveredMillis) == [60_000, 30_000])
    }
}

import Synchronization
