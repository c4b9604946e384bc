import Foundation
import Testing
import VectorStreamCore
import VectorStreamServer

/// The console's routes over the fixture's real stores: `/v1/overview`, `/v1/dead-letters`, `/v1/metrics/history`,
/// and the shapes the console relies on (#21 bug 13).
@Suite("Console routes")
struct ConsoleRouteTests {
    func fixture() async throws -> APIFixture { try await APIFixture.shared.value }

    @Test func deadLettersArePagedNewestFirstAndFilteredByReason() async throws {
        let api = try await fixture()
        let first = try await api.get("/v1/dead-letters?limit=5")
        #expect(first.status == 200)
        let counts = first.json["counts"] as? [String: Int] ?? [:]
        let total = counts.values.reduce(0, +)
        #expect(total > 10, "the fixture's 3 % invalid records are kept: \(counts)")
        let items = first.json["items"] as? [[String: Any]] ?? []
        #expect(items.count == 5)
        for item in items {
            #expect(!(item["excerpt"] as? String ?? "").isEmpty)
            #expect((item["position"] as? [String: Any])?["offset"] is Int)
            #expect(counts[item["code"] as? String ?? ""] != nil)
        }
        // Walk every page: each sample once, newest first, as many as counted.
        var seen: [String] = [], next = first.json["next"] as? String, pages = 1
        seen += items.map { "\(($0["position"] as? [String: Any])?["offset"] ?? "")" }
        var times = items.compactMap { $0["rejected_at"] as? Int }
        while let cursor = next, pages < 1000 {
            let page = try await api.get("/v1/dead-letters?limit=50&before=\(cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")")
            #expect(page.status == 200)
            let more = page.json["items"] as? [[String: Any]] ?? []
            seen += more.map { "\(($0["position"] as? [String: Any])?["offset"] ?? "")" }
            times += more.compactMap { $0["rejected_at"] as? Int }
            next = page.json["next"] as? String
            pages += 1
        }
        #expect(seen.count == total)
        #expect(Set(seen).count == total)
        #expect(times == times.sorted(by: >))

        let (reason, n) = counts.max { $0.value < $1.value }!
        let filtered = try await api.get("/v1/dead-letters?limit=200&reason=\(reason)")
        let only = filtered.json["items"] as? [[String: Any]] ?? []
        #expect(only.count == min(n, 200))
        #expect(only.allSatisfy { $0["code"] as? String == reason })
        #expect(try await api.get("/v1/dead-letters?reason=no_such_reason").json["items"] as? [Any] != nil)
    }

    @Test func deadLetterParametersAreChecked() async throws {
        let api = try await fixture()
        for (query, name) in [("limit=0", "limit"), ("limit=201", "limit"), ("limit=x", "limit"), ("before=12", "before"),
                              ("before=a.b.c.d", "before")] {
            let reply = try await api.get("/v1/dead-letters?\(query)")
            #expect(reply.status == 400, "\(query)")
            #expect((reply.json["detail"] as? String ?? "").contains(name), "\(query): \(reply.text)")
        }
        #expect(try await api.get("/v1/dead-letters", key: nil).status == 401)
    }

    @Test func metricsHistoryAnswersBucketsFromTheSnapshots() async throws {
        let api = try await fixture()
        let reply = try await api.get("/v1/metrics/history?metric=events_in_per_second&minutes=5&step=1")
        #expect(reply.status == 200, "\(reply.text)")
        #expect(reply.json["unit"] as? String == "events/s")
        #expect(reply.json["step"] as? Int == 1)
        #expect(reply.json["workers"] as? [String] == ["worker-1"])
        let points = reply.json["points"] as? [[String: Any]] ?? []
        #expect(points.count == 300)
        let values = points.compactMap { $0["value"] as? Double }
        #expect(values.contains { $0 > 0 }, "some bucket has a rate: \(values)")
        let ts = points.compactMap { $0["t"] as? Int }
        #expect(zip(ts, ts.dropFirst()).allSatisfy { $1 - $0 == 1000 })
        for metric in HistoryMetric.allCases {
            let r = try await api.get("/v1/metrics/history?metric=\(metric.rawValue)&minutes=10")
            #expect(r.status == 200, "\(metric)")
            #expect((r.json["points"] as? [Any])?.count == 120, "\(metric): default step of about 120 buckets")
        }
        // An hour's default step is a minute (the 1-minute rollup); a day's is rounded up to whole 5 minutes, which
        // the 5-minute rollup answers.
        let hour = try await api.get("/v1/metrics/history?metric=events_in_per_second&minutes=60")
        #expect(hour.json["step"] as? Int == 60)
        #expect((hour.json["points"] as? [Any])?.count == 60)
        let day = try await api.get("/v1/metrics/history?metric=events_in_per_second&minutes=1440")
        #expect(day.json["step"] as? Int == 900)
        #expect((day.json["points"] as? [Any])?.count == 96)
        // Another worker's history: none.
        let other = try await api.get("/v1/metrics/history?metric=events_in_per_second&minutes=5&worker=nobody")
        #expect((other.json["points"] as? [[String: Any]] ?? []).allSatisfy { $0["value"] is NSNull })
    }

    @Test func metricsHistoryParametersAreChecked() async throws {
        let api = try await fixture()
        for (query, name) in [("", "metric"), ("metric=cpu", "metric"), ("metric=consumer_lag&minutes=0", "minutes"),
                              ("metric=consumer_lag&minutes=99999", "minutes"), ("metric=consumer_lag&step=0", "step"),
                              ("metric=consumer_lag&step=x", "step")] {
            let reply = try await api.get("/v1/metrics/history?\(query)")
            #expect(reply.status == 400, "\(query)")
            #expect((reply.json["detail"] as? String ?? "").contains(name), "\(query): \(reply.text)")
        }
        // A step too small for the span is raised to keep 2,000 buckets at most (schemathesis: a schema-valid
        // request must not be refused), and the answer says which step it used.
        let raised = try await api.get("/v1/metrics/history?metric=consumer_lag&minutes=10080&step=1")
        #expect(raised.status == 200)
        #expect(raised.json["step"] as? Int == 303)
        #expect(((raised.json["points"] as? [Any])?.count ?? 0) <= 2_000)
        // An empty reason is no filter.
        #expect(try await api.get("/v1/dead-letters?reason=").status == 200)
    }

    /// Rates from successive cumulative counters, spread over the buckets, summed over workers; a restart (a
    /// counter that went down) is skipped; latency p99 the highest; lag the last value summed.
    @Test func snapshotBucketsSumRatesOverWorkersAndSkipRestarts() async throws {
        func stats(total: Int64, p99: Double = 0, lag: Int64 = 0) -> PipelineStats {
            var s = PipelineStats()
            s.eventsTotal = total
            s.recentLatencyP99Millis = p99
            s.lagByPartition = ["t[0]": lag]
            return s
        }
        let t0: EpochMillis = 1_000_000_000_000
        let snapshots = [
            MetricsSnapshot(worker: "a", at: t0, stats: stats(total: 0, p99: 5, lag: 10)),
            MetricsSnapshot(worker: "a", at: t0 + 10_000, stats: stats(total: 1_000, p99: 7, lag: 4)),
            MetricsSnapshot(worker: "a", at: t0 + 20_000, stats: stats(total: 50)),  // restarted
            MetricsSnapshot(worker: "b", at: t0, stats: stats(total: 100, p99: 9, lag: 1)),
            MetricsSnapshot(worker: "b", at: t0 + 10_000, stats: stats(total: 600, lag: 2)),
        ]
        let history = SnapshotMetricsHistory { _, _, _, _ in snapshots }
        func series(_ metric: HistoryMetric) async throws -> [Double?] {
            try await history.series(MetricsHistoryQuery(metric: metric, from: t0, to: t0 + 20_000, stepSeconds: 10, worker: nil)).values
        }
        #expect(try await series(.eventsInPerSecond) == [150, nil])  // (1000 + 500) / 10 s; the restart skipped
        #expect(try await series(.latencyP99) == [9, 7])  // the highest published in each bucket
        #expect(try await series(.consumerLag) == [11, 6])  // each worker's last in the bucket, summed
    }

    /// A process's first snapshot pairs with its start (its counters count from 0 since `elapsed_seconds` before):
    /// `demo --events 20000` ran in one batch, published once, and its throughput chart was empty. A process that
    /// started after the last snapshot under its name is a restart even when its counter is higher.
    @Test func aFirstSnapshotPairsWithItsProcessStart() async throws {
        func stats(total: Int64, elapsed: Double) -> PipelineStats {
            var s = PipelineStats()
            s.eventsTotal = total
            s.elapsedSeconds = elapsed
            return s
        }
        let t0: EpochMillis = 1_000_000_000_000
        func series(_ snapshots: [MetricsSnapshot]) async throws -> [Double?] {
            let history = SnapshotMetricsHistory { _, _, _, _ in snapshots }
            return try await history.series(MetricsHistoryQuery(metric: .eventsInPerSecond, from: t0, to: t0 + 20_000,
                                                                stepSeconds: 10)).values
        }
        // One snapshot: 20,000 events 15 s after the start, 1,333.3/s in both buckets the run covers.
        let once = try await series([MetricsSnapshot(worker: "demo", at: t0 + 15_000, stats: stats(total: 20_000, elapsed: 15))])
        #expect(once.map { $0.map { ($0 * 10).rounded() / 10 } } == [1_333.3, 1_333.3])
        // A restart whose counter passed the old process's: 3,000 events since t0 + 5 s (not 2,000 over 10 s).
        let restarted = try await series([MetricsSnapshot(worker: "w", at: t0, stats: stats(total: 1_000, elapsed: 100)),
                                          MetricsSnapshot(worker: "w", at: t0 + 10_000, stats: stats(total: 3_000, elapsed: 5))])
        #expect(restarted == [600, nil])
        // A process that started before the snapshots read: its earlier ones are not here, so no interval.
        let old = try await series([MetricsSnapshot(worker: "w", at: t0 + 5_000, stats: stats(total: 9_000, elapsed: 3_600))])
        #expect(old == [nil, nil])
    }

    @Test func overviewHasWhatThePanelsNeed() async throws {
        let api = try await fixture()
        let reply = try await api.get("/v1/overview")
        #expect(reply.status == 200, "\(reply.text)")
        let o = reply.json
        let stores = o["stores"] as? [String: Any] ?? [:]
        #expect((stores["events"] as? Int ?? 0) > 0)
        #expect((stores["vectors"] as? Int ?? 0) >= api.catalog.count)
        #expect((stores["dead_letters"] as? Int ?? 0) > 0)
        #expect((stores["embedded_bytes_in_use"] as? Int ?? 0) > 0)
        #expect((stores["embedded_bytes_on_disk"] as? Int ?? 0) > 0)
        let embedder = o["embedder"] as? [String: Any] ?? [:]
        #expect(embedder["precision"] as? String == "fp32")
        #expect((embedder["sentences_per_second"] as? Double ?? 0) > 0)
        let workers = o["workers"] as? [String: [String: Any]] ?? [:]
        #expect(workers["worker-1"]?["last_heartbeat"] is String)
        let checks = o["checks"] as? [String: [String: Any]] ?? [:]
        #expect(checks["sqlite"]?["status"] as? String == "ok")
        #expect(checks["sqlite"]?["since"] is String)
        #expect(checks["sqlite"]?["latency_ms"] is Double)
        let breakers = o["breakers"] as? [String: [String: Any]] ?? [:]
        #expect(Set(breakers.keys).isSuperset(of: ["vector_store", "analytics_store", "dead_letters", "metrics_history"]))
        let pipeline = o["pipeline"] as? [String: Any] ?? [:]
        #expect((pipeline["events_total"] as? Int ?? 0) == 6_000)
        #expect((pipeline["recent_stage_ms"] as? [String: Any])?["embed"] != nil)
        #expect(try await api.get("/v1/overview", key: nil).status == 401)
    }

    /// #21 bug 13: one shape whatever the strategy (the popular answer lacked score and price).
    @Test func recommendationsHaveOneShapeWhateverTheStrategy() async throws {
        let api = try await fixture()
        var counts: [String: Int] = [:]
        for e in api.events { counts[e.userID, default: 0] += 1 }
        let user = counts.max { $0.value < $1.value }!.key
        for path in ["/v1/users/\(user)/recommendations?k=5", "/v1/users/someone-new/recommendations?k=5"] {
            let reply = try await api.get(path)
            let results = reply.json["results"] as? [[String: Any]] ?? []
            #expect(results.count == 5, "\(path)")
            for r in results {
                #expect(Set(r.keys) == ["product_id", "name", "category", "price", "score"], "\(reply.json["strategy"] ?? ""): \(r.keys)")
                #expect(r["price"] is Double || r["price"] is Int)
                #expect(r["score"] is Double || r["score"] is Int)
            }
        }
    }

    /// #21 bug 13: the funnel says what it counts.
    @Test func funnelSaysItCountsSessions() async throws {
        let api = try await fixture()
        #expect(try await api.get("/v1/analytics/funnel?minutes=60").json["counts"] as? String == "distinct sessions")
    }
}
