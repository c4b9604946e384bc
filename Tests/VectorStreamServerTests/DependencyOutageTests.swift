import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import Testing
import VectorStreamCore
import VectorStreamServer

/// F6: a dependency that hangs or fails costs each request at most the read timeout, then its breaker opens and
/// the API answers 503 + Retry-After at once, until a probe after the cool-down finds it healthy again.
@Suite("Dependency outages")
struct DependencyOutageTests {
    static func configuration(timeout: Duration = .milliseconds(200), threshold: Int = 3,
                              cooldown: Duration = .seconds(1)) -> APIServerConfiguration {
        APIServerConfiguration(host: "127.0.0.1", port: 0, readTimeout: timeout, breakerFailureThreshold: threshold,
                               breakerCooldown: cooldown)
    }

    static func breaker(_ health: [String: Any], _ name: String) -> [String: Any] {
        (health["breakers"] as? [String: Any])?[name] as? [String: Any] ?? [:]
    }

    @Test func hangingVectorStoreTimesOutThenFailsFastThenRecovers() async throws {
        let vectors = StubVectorStore()
        let server = try await StubServer.start(Self.configuration(),
                                                APIDependencies(embedder: StubEmbedder(), vectors: vectors,
                                                                analytics: StubAnalyticsStore()))
        defer { server.stop() }
        #expect(try await server.request(.GET, "/v1/products/p-1/similar").reply.status == 200)

        vectors.set(.hang(.seconds(30)))
        // Below the threshold: each call waits for the read timeout, then 503 naming the dependency.
        for attempt in 1...3 {
            let (reply, seconds, headers) = try await server.request(.GET, "/v1/products/p-1/similar", timeout: 5)
            #expect(reply.status == 503, "attempt \(attempt): \(reply.text)")
            #expect(seconds >= 0.19 && seconds < 1.5, "attempt \(attempt) took \(seconds) s")
            #expect(reply.json["dependency"] as? String == "vector_store")
            #expect(reply.json["error"] as? String == "dependency_unavailable")
            #expect(headers.first(name: "Retry-After") != nil)
        }
        // Open: refused at once, without calling the store, with the time until the probe.
        let callsBefore = vectors.calls.load(ordering: .relaxed)
        for _ in 0..<5 {
            let (reply, seconds, headers) = try await server.request(.GET, "/v1/products/p-1/similar", timeout: 5)
            #expect(reply.status == 503)
            #expect(seconds < 0.1, "an open breaker took \(seconds) s")
            #expect(reply.json["dependency"] as? String == "vector_store")
            let retryAfter = headers.first(name: "Retry-After").flatMap(Int.init)
            #expect(retryAfter == 1, "Retry-After \(String(describing: retryAfter))")
            #expect(reply.json["retry_after_seconds"] as? Int == retryAfter)
        }
        #expect(vectors.calls.load(ordering: .relaxed) == callsBefore)
        // Each timeout was logged with the dependency's name; the refusals were not (they would flood the log).
        let timeouts = server.log.all.filter { $0.message == "dependency timed out" }
        #expect(timeouts.count == 3)
        #expect(timeouts.allSatisfy { $0.level == .warning && $0.metadata["dependency"] == "vector_store" })
        // Search uses the same store and the same breaker.
        let search = try await server.request(.POST, "/v1/search", body: Array(#"{"text": "tent"}"#.utf8))
        #expect(search.reply.status == 503 && search.seconds < 0.1)

        // /health shows it; /status does not wait for it.
        let health = try await server.request(.GET, "/health").reply
        #expect(health.status == 200)
        #expect(health.json["status"] as? String == "degraded")
        let open = Self.breaker(health.json, "vector_store")
        #expect(open["state"] as? String == "open")
        #expect((open["last_error"] as? String)?.contains("no answer within 200ms") == true, "\(open)")
        #expect(open["consecutive_failures"] as? Int == 3)
        #expect(open["since"] is String)
        #expect(Self.breaker(health.json, "analytics_store")["state"] as? String == "closed")
        let status = try await server.request(.GET, "/status")
        #expect(status.reply.status == 200)
        #expect(status.seconds < 0.1)
        #expect(status.reply.json["vectors"] is NSNull)
        #expect((status.reply.json["unavailable"] as? [String: Any])?["vector_store"] is String)

        // The store heals; after the cool-down one probe goes through and closes the breaker.
        vectors.set(.healthy)
        try await Task.sleep(for: .milliseconds(1100))
        #expect(Self.breaker(try await server.request(.GET, "/health").reply.json, "vector_store")["state"] as? String == "half_open")
        let healed = try await server.request(.GET, "/v1/products/p-1/similar")
        #expect(healed.reply.status == 200, "\(healed.reply.text)")
        let after = try await server.request(.GET, "/health").reply
        #expect(after.json["status"] as? String == "ok")
        #expect(Self.breaker(after.json, "vector_store")["state"] as? String == "closed")
        #expect(Self.breaker(after.json, "vector_store")["last_latency_ms"] is Double)
        #expect(try await server.request(.GET, "/status").reply.json["vectors"] as? Int == 3)
    }

    @Test func failingStoreOpensTheBreakerWithoutWaiting() async throws {
        let vectors = StubVectorStore()
        vectors.set(.fail("connection refused"))
        let server = try await StubServer.start(Self.configuration(timeout: .seconds(2), threshold: 2, cooldown: .seconds(30)),
                                                APIDependencies(embedder: StubEmbedder(), vectors: vectors,
                                                                analytics: StubAnalyticsStore()))
        defer { server.stop() }
        for _ in 0..<2 {
            let (reply, seconds, _) = try await server.request(.GET, "/v1/products/p-1/similar")
            #expect(reply.status == 503)
            #expect(seconds < 0.5)
            // Internals stay in the log and /health, out of the answer.
            #expect(!reply.text.contains("connection refused"))
        }
        let (reply, _, headers) = try await server.request(.GET, "/v1/products/p-1/similar")
        #expect(reply.status == 503)
        let retryAfter = headers.first(name: "Retry-After").flatMap(Int.init) ?? 0
        #expect((29...30).contains(retryAfter), "Retry-After \(retryAfter)")
        let health = try await server.request(.GET, "/health").reply.json
        #expect(Self.breaker(health, "vector_store")["last_error"] as? String == "connection refused")
        // A failed probe opens it again for another cool-down: covered by CircuitBreakerTests.
    }

    @Test func hangingAnalyticsAndLiveStateDoNotHoldStatusOrAnalytics() async throws {
        let analytics = StubAnalyticsStore()
        analytics.set(.hang(.seconds(30)))
        let live = StubLiveState()
        live.set(.hang(.seconds(30)))
        let vectors = StubVectorStore()
        vectors.set(.hang(.seconds(30)))
        let server = try await StubServer.start(Self.configuration(timeout: .milliseconds(300)),
                                                APIDependencies(embedder: StubEmbedder(), vectors: vectors,
                                                                analytics: analytics, liveState: live))
        defer { server.stop() }
        // Both parts of /status are read concurrently, each bounded: one timeout, not two.
        let status = try await server.request(.GET, "/status", timeout: 5)
        #expect(status.reply.status == 200)
        #expect(status.seconds < 0.9, "took \(status.seconds) s")
        let unavailable = status.reply.json["unavailable"] as? [String: Any] ?? [:]
        #expect(Set(unavailable.keys) == ["live_state", "vector_store"])
        #expect(status.reply.json["model_version"] as? String == "stub-model")

        let funnel = try await server.request(.GET, "/v1/analytics/funnel", timeout: 5)
        #expect(funnel.reply.status == 503)
        #expect(funnel.reply.json["dependency"] as? String == "analytics_store")
        #expect(funnel.seconds < 0.9)
        // Recommendations read analytics first.
        let recs = try await server.request(.GET, "/v1/users/u-1/recommendations", timeout: 5)
        #expect(recs.reply.status == 503)
        #expect(recs.reply.json["dependency"] as? String == "analytics_store")
    }

    @Test func hangingQueryCacheIsSkippedNotFatal() async throws {
        let cache = HangingCache()
        let server = try await StubServer.start(Self.configuration(timeout: .milliseconds(200), threshold: 2),
                                                APIDependencies(embedder: StubEmbedder(), vectors: StubVectorStore(),
                                                                analytics: StubAnalyticsStore(), queryCache: cache))
        defer { server.stop() }
        // The cache's read and write each time out, but the answer is computed and served.
        let first = try await server.request(.GET, "/v1/analytics/funnel", timeout: 5)
        #expect(first.reply.status == 200)
        // Its breaker is open now (two failures): the cache is skipped at once.
        let second = try await server.request(.GET, "/v1/analytics/funnel", timeout: 5)
        #expect(second.reply.status == 200)
        #expect(second.seconds < 0.1, "took \(second.seconds) s")
        let health = try await server.request(.GET, "/health").reply.json
        #expect(Self.breaker(health, "query_cache")["state"] as? String == "open")
    }

    @Test func hangingHealthCheckIsReportedDownWithinTheTimeout() async throws {
        let server = try await StubServer.start(Self.configuration(timeout: .milliseconds(300)),
                                                APIDependencies(embedder: StubEmbedder(), vectors: StubVectorStore(),
                                                                analytics: StubAnalyticsStore(),
                                                                health: [StubHealth(name: "stuck", mode: .hang(.seconds(30))),
                                                                         StubHealth(name: "fine", mode: .healthy)]))
        defer { server.stop() }
        let (reply, seconds, _) = try await server.request(.GET, "/health", timeout: 5)
        #expect(reply.status == 503)
        #expect(seconds < 0.9)
        let deps = reply.json["dependencies"] as? [String: [String: Any]] ?? [:]
        #expect(deps["stuck"]?["status"] as? String == "down")
        #expect((deps["stuck"]?["reason"] as? String)?.contains("300ms") == true)
        #expect(deps["fine"]?["status"] as? String == "ok")
        #expect(deps["fine"]?["latency_ms"] is Double)
        let ready = try await server.request(.GET, "/ready", timeout: 5)
        #expect(ready.reply.status == 503)
        #expect(ready.reply.json["waiting_for"] as? [String] == ["stuck"])
    }
}

/// A query cache that never answers.
struct HangingCache: QueryCache {
    func cached(_ key: String) async throws -> [UInt8]? {
        try await Task.sleep(for: .seconds(30))
        return nil
    }

    func store(_ key: String, value: [UInt8], ttl: Duration) async throws { try await Task.sleep(for: .seconds(30)) }
    func invalidateAll() async throws {}
}

struct StubHealth: HealthCheckable {
    let name: String
    let mode: StubMode
    var dependencyName: String { name }

    func checkHealth() async -> DependencyHealth {
        switch mode {
        case .healthy: return .ok
        case .hang(let d):
            try? await Task.sleep(for: d)
            return .ok
        case .fail(let message): return .down(message)
        }
    }
}
