import Testing
import VectorStreamCore

/// Rates and latency over a recent window: counters move once per batch, so a rate over half a second reads
/// 0 or double, and latency since start keeps a cold start's p99 forever. Both are taken over a window instead.
@Suite("Recent activity: windowed rates and last-minute latency")
struct RecentActivityTests {
    @Test("batches of 44,000 every 2 s read as 22,000/s, not 0 or 44,000/s alternately")
    func windowedRateIsSteady() {
        var recent = RecentActivity()
        let start: Int64 = 1_000
        for t in stride(from: start, to: start + 40, by: 2) { recent.add(at: t, read: 44_000, stored: 43_000, rejected: 1_000) }
        for now in (start + 12)...(start + 38) {
            let rates = recent.rates(now: now, window: 10, start: start)
            #expect(abs(rates.read - 22_000) <= 2_200, "at \(now): \(rates.read)")
            #expect(abs(rates.stored - 21_500) <= 2_200)
            #expect(abs(rates.rejected - 500) <= 100)
        }
        // A half-second view of the same counters (what the terminal did) alternates between 0 and double.
        #expect(recent.rates(now: start + 60, window: 10, start: start).read == 0, "nothing in the last 10 s")
    }

    @Test("a rate in the first seconds divides by the time since start, not by the whole window")
    func earlyRate() {
        var recent = RecentActivity()
        recent.add(at: 500, read: 3_000)
        recent.add(at: 501, read: 3_000)
        let rates = recent.rates(now: 501, window: 30, start: 500)
        #expect(rates.read == 3_000)
    }

    @Test("a cold start's slow first batch leaves the last-minute p99 after a minute")
    func latencyOverTheLastMinute() {
        var recent = RecentActivity()
        var sinceStart = LatencyHistogram()
        for _ in 0..<1_000 {
            recent.addLatency(at: 0, nanos: 14_000_000_000)
            sinceStart.record(nanos: 14_000_000_000)
        }
        for t in Int64(1)...Int64(90) {
            for _ in 0..<50 {
                recent.addLatency(at: t, nanos: 20_000_000)
                sinceStart.record(nanos: 20_000_000)
            }
        }
        #expect(sinceStart.quantileMillis(0.99) > 10_000, "since start: the cold start dominates")
        let minute = recent.latency(now: 90)
        #expect(minute.quantileMillis(0.99) < 25, "last minute: \(minute.quantileMillis(0.99)) ms")
        #expect(minute.count >= 50 * 60 && minute.count <= 50 * 70)
    }

    @Test("the engine's stats carry the recent figures")
    func engineStatsCarryThem() async throws {
        let source = EngineFailureTests.Source((0..<500).map { EngineFailureTests.record($0) })
        let e = EngineFailureTests().engine(source)
        try await e.run()
        let stats = e.stats
        #expect(stats.recentEventsPerSecond > 0)
        #expect(stats.recentStoredPerSecond > 0)
        #expect(stats.recentWindowSeconds >= 1)
        #expect(stats.recentLatencyP99Millis > 0)
        let stages = Set(stats.recentStageMillis.keys)
        #expect(stages.isSuperset(of: ["parse", "dedup", "embed", "upsert", "store", "acknowledge"]), "\(stages)")
        #expect(stats.recentStageMillis.values.allSatisfy { $0.p99Millis >= $0.p50Millis && $0.batches > 0 })
        #expect(stats.lagByPartition == ["t[0]": 0])
    }
}
