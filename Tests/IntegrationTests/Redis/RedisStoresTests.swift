import RedisClient
import Testing
import VectorStreamCore
import VectorStreamRedis

@Suite("Redis stores: dedup, embedding cache, query cache, live state")
struct RedisStoresTests {
    private func backend(_ prefix: String, worker: String) throws -> RedisBackend {
        RedisBackend(configuration: try RedisTestServer.storeConfiguration(prefix: prefix), workerID: worker)
    }

    @Test("two workers claiming the same 20,000 keys at once: every key has exactly one winner")
    func concurrentClaims() async throws {
        let prefix = RedisTestServer.uniquePrefix()
        let a = try backend(prefix, worker: "a"), b = try backend(prefix, worker: "b")
        defer { Task { await a.close(); await b.close() } }
        let keys = (0..<20_000).map { "e-\($0)" }
        for round in 0..<3 {
            let roundKeys = keys.map { "\(round)-\($0)" }
            async let wonA = a.dedup.claim(roundKeys, in: .event)
            async let wonB = b.dedup.claim(roundKeys.reversed(), in: .event)
            let (ra, rb) = try await (wonA, Array(wonB.reversed()))
            #expect(zip(ra, rb).allSatisfy { ($0 == .won) != ($1 == .won) }, "exactly one of the two wins each key")
            #expect((ra + rb).allSatisfy { $0 == .won || $0 == .heldElsewhere }, "the loser sees the key held, not done")
        }
    }

    @Test("claim, confirm and release: only the owner releases, confirmed keys stay claimed")
    func twoPhaseSemantics() async throws {
        let prefix = RedisTestServer.uniquePrefix()
        let a = try backend(prefix, worker: "a"), b = try backend(prefix, worker: "b")
        defer { Task { await a.close(); await b.close() } }

        #expect(try await a.dedup.claim(["x", "y", "z"], in: .event) == [.won, .won, .won])
        // A retry by the same worker (its reply was lost) keeps its claim; the other worker is kept out.
        #expect(try await a.dedup.claim(["x", "y"], in: .event) == [.won, .won])
        #expect(try await b.dedup.claim(["x", "y", "z"], in: .event) == [.heldElsewhere, .heldElsewhere, .heldElsewhere])
        // Namespaces do not collide.
        #expect(try await b.dedup.claim(["x"], in: .productText) == [.won])

        // B cannot release A's claims.
        try await b.dedup.release(["x", "y", "z"], in: .event)
        #expect(try await b.dedup.claim(["x"], in: .event) == [.heldElsewhere])

        // A's failed batch: released claims are free for B.
        try await a.dedup.release(["y"], in: .event)
        #expect(try await b.dedup.claim(["y"], in: .event) == [.won])

        // A confirms x: permanent (long TTL), nobody claims it again, A included; releasing does nothing.
        try await a.dedup.confirm(["x"], in: .event)
        try await a.dedup.release(["x"], in: .event)
        #expect(try await a.dedup.claim(["x"], in: .event) == [.done])
        #expect(try await b.dedup.claim(["x"], in: .event) == [.done])
        let ttl = try await a.client.send("PTTL", .string(a.dedup.redisKey("x", in: .event))).int ?? 0
        #expect(ttl > 6 * 24 * 3600 * 1000, "confirmed keys live for the dedup TTL, got \(ttl) ms")
        let lease = try await a.client.send("PTTL", .string(a.dedup.redisKey("z", in: .event))).int ?? 0
        #expect(lease > 0 && lease <= 60_000, "an unconfirmed claim is a lease, got \(lease) ms")

        // A stored y after its lease ran out and B took it: A's confirm is still the truth (y is done), and
        // B's release of its failed batch must not undo it.
        try await a.dedup.confirm(["y"], in: .event)
        try await b.dedup.release(["y"], in: .event)
        #expect(try await a.dedup.claim(["y"], in: .event) == [.done])
        #expect(try await b.dedup.claim(["y"], in: .event) == [.done])
    }

    @Test("a Redis without its append-only file is warned about at start; one with it is not")
    func persistenceIsChecked() async throws {
        let plain = try backend(RedisTestServer.uniquePrefix(), worker: "a")
        defer { Task { await plain.close() } }
        let warning = try #require(await plain.persistenceWarning(), "the shared test server runs with appendonly no")
        #expect(warning.contains("appendonly"))
        #expect(warning.contains("127.0.0.1:"), "names the server")

        let url = try RedisTestServer.startInstance("persistence-check", port: 16394)
        defer { try? RedisTestServer.stopInstance("persistence-check") }
        let durable = RedisBackend(configuration: try RedisTestServer.storeConfiguration(url: url, prefix: "p"), workerID: "a")
        defer { Task { await durable.close() } }
        #expect(await durable.persistenceWarning() == nil)
    }

    @Test("an expired lease frees the work for another worker")
    func leaseExpiry() async throws {
        var configuration = try RedisTestServer.storeConfiguration(prefix: RedisTestServer.uniquePrefix())
        configuration.claimLease = .milliseconds(300)
        let a = RedisBackend(configuration: configuration, workerID: "a")
        let b = RedisBackend(configuration: configuration, workerID: "b")
        defer { Task { await a.close(); await b.close() } }
        #expect(try await a.dedup.claim(["k"], in: .event) == [.won])
        try await Task.sleep(for: .milliseconds(600))
        #expect(try await b.dedup.claim(["k"], in: .event) == [.won])
    }

    @Test("embedding cache: binary little-endian vectors round trip with a TTL; misses and bad values are nil")
    func embeddingCache() async throws {
        let prefix = RedisTestServer.uniquePrefix()
        var configuration = try RedisTestServer.storeConfiguration(prefix: prefix)
        configuration.embeddingCacheTTL = .seconds(3600)
        let backend = RedisBackend(configuration: configuration, workerID: "w", embeddingDimension: 384)
        defer { Task { await backend.close() } }
        let v1 = (0..<384).map { Float($0) / 383 - 0.5 }
        let v2 = (0..<384).map { _ in Float.random(in: -1...1) }
        try await backend.embeddingCache.store(["h1": v1, "h2": v2])
        let read = try await backend.embeddingCache.vectors(for: ["h2", "missing", "h1"])
        #expect(read == [v2, nil, v1])

        let raw = try await backend.client.send("GET", .string(prefix + "emb:h1"))
        #expect(raw.bytes?.count == 384 * 4, "stored as raw Float32 bytes, not JSON")
        #expect(Array(raw.bytes!.prefix(4)) == [0, 0, 0, 0xBF], "-0.5 little-endian")
        let ttl = try await backend.client.send("PTTL", .string(prefix + "emb:h1")).int ?? 0
        #expect(ttl > 3_500_000 && ttl <= 3_600_000)

        try await backend.client.send("SET", .string(prefix + "emb:short"), "abcd")
        #expect(try await backend.embeddingCache.vectors(for: ["short"]) == [nil], "wrong dimension is a miss")
        let many = (0..<1500).map { "m\($0)" }
        try await backend.embeddingCache.store(Dictionary(uniqueKeysWithValues: many.map { ($0, v1) }))
        #expect(try await backend.embeddingCache.vectors(for: many).allSatisfy { $0 == v1 }, "reads larger than one MGET")
    }

    @Test("query cache: hit until invalidated; an answer computed before an invalidation is never served after it")
    func queryCache() async throws {
        let backend = try backend(RedisTestServer.uniquePrefix(), worker: "api")
        defer { Task { await backend.close() } }
        let cache = backend.queryCache
        #expect(try await cache.cached("top?limit=10") == nil)
        try await cache.store("top?limit=10", value: Array("v1".utf8), ttl: .seconds(30))
        #expect(try await cache.cached("top?limit=10") == Array("v1".utf8))

        try await cache.invalidateAll()
        #expect(try await cache.cached("top?limit=10") == nil)
        // Slow query: miss read in this generation, new data arrives, then the (stale) answer is stored.
        try await cache.invalidateAll()
        try await cache.store("top?limit=10", value: Array("stale".utf8), ttl: .seconds(30))
        #expect(try await cache.cached("top?limit=10") == nil, "the stale answer went to the old generation")
        try await cache.store("top?limit=10", value: Array("fresh".utf8), ttl: .seconds(30))
        #expect(try await cache.cached("top?limit=10") == Array("fresh".utf8))

        try await cache.store("short", value: [1], ttl: .milliseconds(100))
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await cache.cached("short") == nil, "expired")
    }

    @Test("live state: every worker's stats in one hash, readable by the API")
    func liveState() async throws {
        let prefix = RedisTestServer.uniquePrefix()
        let worker = try backend(prefix, worker: "w1"), api = try backend(prefix, worker: "api")
        defer { Task { await worker.close(); await api.close() } }
        var s1 = PipelineStats()
        s1.eventsTotal = 10_000
        s1.dedupMicrosPerEvent = 1.25
        var s2 = PipelineStats()
        s2.eventsStored = 7
        try await worker.liveState.publish(worker: "worker-1", stats: s1)
        try await worker.liveState.publish(worker: "worker-2", stats: s2)
        s1.eventsTotal = 20_000
        try await worker.liveState.publish(worker: "worker-1", stats: s1)
        let all = try await api.liveState.workers()
        #expect(all == ["worker-1": s1, "worker-2": s2])
        try await api.liveState.remove(worker: "worker-2")
        #expect(try await api.liveState.workers().keys.sorted() == ["worker-1"])
    }

    @Test("Redis unreachable at start: checkReachable throws a clear error and health is down")
    func unreachableAtStart() async throws {
        var settings = VectorStreamConfiguration().redis
        settings.url = "redis://user:topsecret@127.0.0.1:\(RedisTestServer.unusedPort)/0"
        let backend = try RedisBackend(settings: settings, workerID: "w")
        defer { Task { await backend.close() } }
        do {
            try await backend.checkReachable()
            Issue.record("reachable?")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix("redis at 127.0.0.1:\(RedisTestServer.unusedPort) is unreachable"), "\(text)")
            #expect(!text.contains("topsecret"))
        }
        #expect(backend.health.dependencyName == "redis")
        guard case .down(let reason) = await backend.health.checkHealth() else { Issue.record("not down"); return }
        #expect(reason.contains("unreachable") && !reason.contains("topsecret"))
        // The engine's dedup call fails (and is retried by the engine) rather than hanging.
        await #expect(throws: RedisClientError.self) { try await backend.dedup.claim(["a"], in: .event) }
    }

    @Test("settings select the store: URL, pool size and lifetimes are taken over")
    func settings() throws {
        var settings = VectorStreamConfiguration().redis
        #expect(throws: RedisClientError.self) { try RedisStoreConfiguration(settings: settings) }
        settings.url = "rediss://u:p@h:7000/2"
        settings.poolSize = 9
        settings.claimLeaseSeconds = 5
        let c = try RedisStoreConfiguration(settings: settings)
        #expect(c.client.poolSize == 9 && c.client.database == 2 && c.client.tls != nil && c.client.username == "u")
        #expect(c.claimLease == .seconds(5) && c.dedupTTL == .seconds(7 * 24 * 3600))
        #expect(c.keyPrefix == "vectorstream:")
    }
}
