import Foundation
import Testing
import VectorStreamCore
import VectorStreamGenerator

@Suite("HTTP API through real HTTP")
struct APIRouteTests {
    func fixture() async throws -> APIFixture { try await APIFixture.shared.value }

    @Test func healthReadyAndMetricsAreOpen() async throws {
        let api = try await fixture()
        let health = try await api.get("/health", key: nil)
        #expect(health.status == 200)
        #expect(health.json["status"] as? String == "ok")
        let deps = health.json["dependencies"] as? [String: Any]
        #expect((deps?["sqlite"] as? [String: Any])?["status"] as? String == "ok")
        #expect(try await api.get("/ready", key: nil).status == 200)
        let metrics = try await api.get("/metrics", key: nil)
        #expect(metrics.status == 200)
        #expect(metrics.contentType?.hasPrefix("text/plain") == true)
        let dashboard = try await api.get("/", key: nil)
        #expect(dashboard.status == 200 && dashboard.text.contains("VectorStream"))
        let status = try await api.get("/status", key: nil)
        #expect((status.json["local"] as? [String: Any])?["events_stored"] as? Int ?? 0 > 0)
    }

    @Test func v1RoutesRequireTheKey() async throws {
        let api = try await fixture()
        let missing = try await api.get("/v1/analytics/funnel", key: nil)
        #expect(missing.status == 401)
        #expect(missing.json["error"] as? String == "unauthorized")
        #expect(try await api.get("/v1/analytics/funnel", key: "wrong").status == 401)
        #expect(try await api.get("/v1/analytics/funnel").status == 200)
    }

    @Test func searchReturnsScoredProductsAndHonoursFilters() async throws {
        let api = try await fixture()
        let reply = try await api.post("/v1/search", json: ["text": "waterproof camping tent for hiking", "k": 5])
        #expect(reply.status == 200)
        let results = reply.json["results"] as? [[String: Any]] ?? []
        #expect(results.count == 5)
        #expect(results.first?["category"] as? String == "Sports & Outdoors")
        let scores = results.compactMap { $0["score"] as? Double }
        #expect(scores == scores.sorted(by: >))

        let filtered = try await api.post("/v1/search", json: ["text": "gift", "k": 10,
                                                               "filter": ["category": "Jewelry", "min_price": 50, "max_price": 500]])
        let rows = filtered.json["results"] as? [[String: Any]] ?? []
        #expect(!rows.isEmpty)
        for row in rows {
            #expect(row["category"] as? String == "Jewelry")
            #expect((50...500).contains(row["price"] as? Double ?? -1))
        }
    }

    @Test(arguments: [
        ("not json", 400, "invalid_json"),
        (#"{"k": 5}"#, 400, "bad_request"),
        (#"{"text": ""}"#, 400, "bad_request"),
        (#"{"text": "x", "k": 0}"#, 400, "bad_request"),
        (#"{"text": "x", "k": "ten"}"#, 400, "bad_request"),
        (#"{"text": "x", "filter": {"min_price": -1}}"#, 400, "bad_request"),
        (#"{"text": "x", "filter": {"colour": "red"}}"#, 400, "bad_request"),
        (#"[1,2]"#, 400, "bad_request"),
    ])
    func searchRejectsBadBodies(body: String, status: Int, error: String) async throws {
        let api = try await fixture()
        let reply = try await api.request(.POST, "/v1/search", body: Array(body.utf8))
        #expect(reply.status == status, "\(body)")
        #expect(reply.json["error"] as? String == error, "\(body): \(reply.text)")
        #expect(reply.json["detail"] is String)
    }

    @Test func oversizedBodyIs413() async throws {
        let api = try await fixture()
        let big = "{\"text\": \"" + String(repeating: "a", count: 20_000) + "\"}"
        let reply = try await api.request(.POST, "/v1/search", body: Array(big.utf8))
        #expect(reply.status == 413)
        #expect(reply.json["error"] as? String == "body_too_large")
    }

    @Test func similarProductsExcludeTheProductItself() async throws {
        let api = try await fixture()
        let product = api.catalog[3]
        let reply = try await api.get("/v1/products/\(product.id)/similar?k=7")
        #expect(reply.status == 200)
        let results = reply.json["results"] as? [[String: Any]] ?? []
        #expect(results.count == 7)
        #expect(!results.contains { $0["product_id"] as? String == product.id })
        #expect(results.filter { $0["category"] as? String == product.category }.count >= 5)

        #expect(try await api.get("/v1/products/no-such-product/similar").status == 404)
        #expect(try await api.get("/v1/products/\(product.id)/similar?k=1000").status == 400)
        #expect(try await api.get("/v1/products/\(product.id)/similar?k=abc").status == 400)
    }

    @Test func recommendationsUseHistoryAndFallBackToPopular() async throws {
        let api = try await fixture()
        var counts: [String: Int] = [:]
        for e in api.events { counts[e.userID, default: 0] += 1 }
        let user = counts.max { $0.value < $1.value }!.key
        let reply = try await api.get("/v1/users/\(user)/recommendations?k=5")
        #expect(reply.status == 200)
        #expect(reply.json["strategy"] as? String == "personalized")
        let bought = Set(api.events.filter { $0.userID == user && $0.type == .purchase }.map(\.product.id))
        let results = reply.json["results"] as? [[String: Any]] ?? []
        #expect(results.count == 5)
        #expect(results.allSatisfy { !bought.contains($0["product_id"] as? String ?? "") })

        let newcomer = try await api.get("/v1/users/someone-new/recommendations?k=5")
        #expect(newcomer.status == 200)
        #expect(newcomer.json["strategy"] as? String == "popular")
        #expect((newcomer.json["results"] as? [Any])?.count == 5)
    }

    @Test func analyticsAnswerFromTheStoredEvents() async throws {
        let api = try await fixture()
        let funnel = try await api.get("/v1/analytics/funnel?minutes=60")
        #expect(funnel.status == 200)
        #expect(funnel.json["views"] as? Int == Set(api.events.filter { $0.type == .view }.map(\.sessionID)).count)
        #expect(funnel.json["purchases"] as? Int == Set(api.events.filter { $0.type == .purchase }.map(\.sessionID)).count)

        let top = try await api.get("/v1/analytics/top-products?event_type=view&minutes=60&limit=3")
        var views: [String: Int] = [:]
        for e in api.events where e.type == .view { views[e.product.id, default: 0] += 1 }
        let first = (top.json["results"] as? [[String: Any]])?.first
        #expect(first?["count"] as? Int == views.values.max())

        let categories = try await api.get("/v1/analytics/categories?minutes=60")
        #expect((categories.json["results"] as? [Any])?.count == Set(api.events.map(\.product.category)).count)

        #expect(try await api.get("/v1/analytics/top-products?event_type=teleport").status == 400)
        #expect(try await api.get("/v1/analytics/funnel?minutes=0").status == 400)
        #expect(try await api.get("/v1/analytics/categories?minutes=x").status == 400)
        #expect(try await api.get("/v1/analytics/nothing").status == 404)
    }

    @Test func openAPIDocumentDescribesEveryRoute() async throws {
        let api = try await fixture()
        let doc = try await api.get("/openapi.json", key: nil)
        #expect(doc.status == 200)
        #expect((doc.json["openapi"] as? String)?.hasPrefix("3.") == true)
        let paths = Set((doc.json["paths"] as? [String: Any] ?? [:]).keys)
        #expect(paths == ["/health", "/ready", "/metrics", "/status", "/openapi.json", "/v1/search",
                          "/v1/products/{id}/similar", "/v1/users/{id}/recommendations", "/v1/analytics/top-products",
                          "/v1/analytics/funnel", "/v1/analytics/categories", "/v1/overview", "/v1/dead-letters",
                          "/v1/metrics/history"])
        // Every documented GET route answers (not 404) on the server.
        for path in paths where !path.contains("{") && path != "/v1/search" {
            #expect(try await api.get(path).status != 404, "\(path)")
        }
    }
}

@Suite("Semantic search quality")
struct SearchQualityTests {
    @Test func categoryQueriesReturnThatCategory() async throws {
        let api = try await APIFixture.shared.value
        var total = 0, inCategory = 0
        for category in EventGenerator.categoryNames {
            let query = EventGenerator.queryWords(forCategory: category)!
            let reply = try await api.post("/v1/search", json: ["text": query, "k": 10])
            let results = reply.json["results"] as? [[String: Any]] ?? []
            #expect(results.count == 10)
            total += results.count
            inCategory += results.filter { $0["category"] as? String == category }.count
        }
        let share = Double(inCategory) / Double(total)
        #expect(share >= 0.9, "only \(Int(share * 100))% of top-10 results were in the query's category")
    }
}
