import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing
import VectorStreamCore
import VectorStreamServer

/// Issue #16: the API key, path ids, bodies, encoding failures and methods, each through real HTTP.
@Suite("HTTP API hardening")
struct HardeningTests {
    func fixture() async throws -> APIFixture { try await APIFixture.shared.value }

    // MARK: F3: the key is checked on the route the router resolved

    @Test(arguments: ["//v1/analytics/funnel", "///v1/analytics/funnel", "//v1//analytics/funnel", "/v1//analytics/funnel"])
    func doubledSlashesDoNotSkipTheKey(path: String) async throws {
        let api = try await fixture()
        let reply = try await RawHTTP.send(port: api.port, head: """
            GET \(path) HTTP/1.1\r
            Host: 127.0.0.1\r
            Connection: close
            """)
        #expect(reply.status == 401 || reply.status == 404, "\(path): \(reply.status) \(reply.text)")
        #expect(reply.json["views"] == nil, "\(path) leaked data: \(reply.text)")
    }

    @Test func doubledSlashSearchDoesNotSkipTheKey() async throws {
        let api = try await fixture()
        let body = Array(#"{"text": "tent", "k": 3}"#.utf8)
        let reply = try await RawHTTP.send(port: api.port, head: """
            POST //v1/search HTTP/1.1\r
            Host: 127.0.0.1\r
            Content-Type: application/json\r
            Content-Length: \(body.count)\r
            Connection: close
            """, body: body)
        #expect(reply.status == 401 || reply.status == 404, "\(reply.status) \(reply.text)")
        #expect(reply.json["results"] == nil, "leaked data: \(reply.text)")
        // With the key, the route answers as usual: the check is on the route, not on the spelling of the path.
        let keyed = try await RawHTTP.send(port: api.port, head: """
            POST //v1/search HTTP/1.1\r
            Host: 127.0.0.1\r
            Authorization: Bearer \(APIFixture.apiKey)\r
            Content-Type: application/json\r
            Content-Length: \(body.count)\r
            Connection: close
            """, body: body)
        #expect(keyed.status == 200 || keyed.status == 404, "\(keyed.status) \(keyed.text)")
    }

    @Test func keyIsAcceptedInEitherHeaderAndRejectedWhenItDiffers() async throws {
        let api = try await fixture()
        for head in ["X-API-Key: \(APIFixture.apiKey)", "Authorization: Bearer \(APIFixture.apiKey)"] {
            let reply = try await RawHTTP.send(port: api.port, head: "GET /v1/analytics/funnel HTTP/1.1\r\nHost: x\r\n\(head)\r\nConnection: close")
            #expect(reply.status == 200, "\(head)")
        }
        for wrong in [String(APIFixture.apiKey.dropLast()), APIFixture.apiKey + "x", "", String(APIFixture.apiKey.reversed())] {
            let reply = try await RawHTTP.send(port: api.port, head: "GET /v1/analytics/funnel HTTP/1.1\r\nHost: x\r\nX-API-Key: \(wrong)\r\nConnection: close")
            #expect(reply.status == 401, "'\(wrong)'")
        }
    }

    @Test func everyPresentedCredentialMustBeTheKey() async throws {
        let api = try await fixture()
        let key = APIFixture.apiKey
        // Found by schemathesis: a right X-API-Key beside a wrong Authorization was accepted.
        for extra in ["Authorization: Bearer wrong", "Authorization: Basic dXNlcjpwYXNz", "Authorization: \(key)"] {
            let reply = try await RawHTTP.send(port: api.port, head: "GET /v1/analytics/funnel HTTP/1.1\r\nHost: x\r\nX-API-Key: \(key)\r\n\(extra)\r\nConnection: close")
            #expect(reply.status == 401, "\(extra)")
        }
        let lowercase = try await RawHTTP.send(port: api.port, head: "GET /v1/analytics/funnel HTTP/1.1\r\nHost: x\r\nAuthorization: bearer \(key)\r\nConnection: close")
        #expect(lowercase.status == 200, "the scheme is case-insensitive")
        let both = try await RawHTTP.send(port: api.port, head: "GET /v1/analytics/funnel HTTP/1.1\r\nHost: x\r\nX-API-Key: \(key)\r\nAuthorization: Bearer \(key)\r\nConnection: close")
        #expect(both.status == 200)
    }

    // MARK: F8: path ids are percent-decoded

    @Test func percentEncodedIDsReachTheirProducts() async throws {
        let api = try await fixture()
        let template = api.catalog[5]
        let vector = try #require(try await api.vectors.vector(forProduct: template.id))
        let ids = ["p-1", "vs test 1", "vs-café-2", "vs/slash?#3"]
        try await api.vectors.upsert(ids.dropFirst().map { id in
            ProductVector(productID: id, vector: vector.vector, name: template.name, category: template.category,
                          price: template.price, modelVersion: vector.modelVersion, contentHash: "test", updatedAt: 1)
        })
        let encoded = ["p%2D1", "vs%20test%201", "vs-caf%C3%A9-2", "vs%2Fslash%3F%233"]
        for (id, path) in zip(ids, encoded) {
            let reply = try await api.get("/v1/products/\(path)/similar?k=3")
            #expect(reply.status == 200, "\(path): \(reply.text)")
            #expect(reply.json["product_id"] as? String == id, "\(path): \(reply.text)")
            let results = reply.json["results"] as? [[String: Any]] ?? []
            #expect(!results.contains { $0["product_id"] as? String == id }, "\(path) found itself")
        }
        // Bytes that are not UTF-8, and a broken escape, are bad requests, not unknown products.
        for bad in ["p%FF1", "p%2"] {
            let reply = try await RawHTTP.send(port: api.port, head: "GET /v1/products/\(bad)/similar HTTP/1.1\r\nHost: x\r\nX-API-Key: \(APIFixture.apiKey)\r\nConnection: close")
            #expect(reply.status == 400, "\(bad): \(reply.text)")
        }
    }

    @Test func percentEncodedUserIDsReachTheirHistory() async throws {
        let api = try await fixture()
        var counts: [String: Int] = [:]
        for e in api.events { counts[e.userID, default: 0] += 1 }
        let user = counts.max { $0.value < $1.value }!.key
        let encoded = user.replacingOccurrences(of: "-", with: "%2D")
        #expect(encoded != user)
        let reply = try await api.get("/v1/users/\(encoded)/recommendations?k=3")
        #expect(reply.status == 200)
        #expect(reply.json["user_id"] as? String == user)
        #expect(reply.json["strategy"] as? String == "personalized")
    }

    // MARK: Content types and sizes

    @Test(arguments: ["text/plain", "application/x-www-form-urlencoded", "application/xml",
                      "multipart/form-data; boundary=x", "application/jsonx"])
    func nonJSONBodiesAre415(contentType: String) async throws {
        let api = try await fixture()
        let reply = try await api.request(.POST, "/v1/search", body: Array(#"{"text": "tent"}"#.utf8), contentType: contentType)
        #expect(reply.status == 415, "\(contentType): \(reply.status) \(reply.text)")
        #expect(reply.json["error"] as? String == "unsupported_media_type")
        #expect((reply.json["detail"] as? String)?.contains("application/json") == true, "\(reply.text)")
    }

    @Test func jsonWithCharsetIsAccepted() async throws {
        let api = try await fixture()
        let reply = try await api.request(.POST, "/v1/search", body: Array(#"{"text": "tent", "k": 2}"#.utf8),
                                          contentType: "Application/JSON; charset=utf-8")
        #expect(reply.status == 200, "\(reply.text)")
    }

    @Test func hugeContentLengthIs413AtOnce() async throws {
        let api = try await fixture()
        let body = Array(#"{"text":"x"}"#.utf8)
        let reply = try await RawHTTP.send(port: api.port, head: """
            POST /v1/search HTTP/1.1\r
            Host: 127.0.0.1\r
            X-API-Key: \(APIFixture.apiKey)\r
            Content-Type: application/json\r
            Content-Length: 100000000000
            """, body: body, timeout: 3)
        #expect(reply.status == 413)
        #expect(reply.json["error"] as? String == "body_too_large")
        #expect(reply.seconds < 0.5, "took \(reply.seconds) s")
    }

    // MARK: F5: a response that cannot be encoded is a 500

    @Test func unencodableAnswerIs500NotAnEmpty200() async throws {
        let analytics = StubAnalyticsStore(revenue: .infinity)
        let server = try await StubServer.start(
            APIServerConfiguration(host: "127.0.0.1", port: 0),
            APIDependencies(embedder: StubEmbedder(), vectors: StubVectorStore(), analytics: analytics))
        defer { server.stop() }
        for path in ["/v1/analytics/top-products", "/v1/analytics/categories"] {
            let (reply, _, _) = try await server.request(.GET, path)
            #expect(reply.status == 500, "\(path): \(reply.status) \(reply.text)")
            #expect(reply.json["error"] as? String == "internal_error", "\(path): \(reply.text)")
        }
        // Each is logged as an error that says what happened and where.
        let logged = server.log.all.filter { $0.level == .error && $0.message == "request failed" }
        #expect(logged.count == 2)
        #expect(logged.allSatisfy { ($0.metadata["error"] ?? "").contains("JSON cannot carry") }, "\(logged)")
        #expect(Set(logged.compactMap { $0.metadata["path"] }) == ["/v1/analytics/top-products", "/v1/analytics/categories"])
        // NaN too.
        let nan = try await StubServer.start(
            APIServerConfiguration(host: "127.0.0.1", port: 0),
            APIDependencies(embedder: StubEmbedder(), vectors: StubVectorStore(), analytics: StubAnalyticsStore(revenue: .nan)))
        defer { nan.stop() }
        #expect(try await nan.request(.GET, "/v1/analytics/categories").reply.status == 500)
        // Finite figures still answer.
        let fine = try await StubServer.start(
            APIServerConfiguration(host: "127.0.0.1", port: 0),
            APIDependencies(embedder: StubEmbedder(), vectors: StubVectorStore(), analytics: StubAnalyticsStore()))
        defer { fine.stop() }
        let ok = try await fine.request(.GET, "/v1/analytics/categories")
        #expect(ok.reply.status == 200)
        #expect(((ok.reply.json["results"] as? [[String: Any]])?.first?["revenue"] as? Double) == 12.5)
    }

    // MARK: Methods

    @Test(arguments: [("TRACE", "/v1/search", "POST"), ("GET", "/v1/search", "POST"), ("DELETE", "/health", "GET"),
                      ("TRACE", "/v1/products/p-1/similar", "GET"), ("PUT", "/v1/analytics/funnel", "GET"),
                      ("POST", "/openapi.json", "GET")])
    func unroutedMethodsOnKnownPathsAre405(method: String, path: String, allow: String) async throws {
        let api = try await fixture()
        let reply = try await RawHTTP.send(port: api.port, head: """
            \(method) \(path) HTTP/1.1\r
            Host: 127.0.0.1\r
            X-API-Key: \(APIFixture.apiKey)\r
            Content-Length: 0\r
            Connection: close
            """)
        #expect(reply.status == 405, "\(method) \(path): \(reply.status) \(reply.text)")
        #expect(reply.header("Allow") == allow, "\(method) \(path)")
        #expect(reply.json["error"] as? String == "method_not_allowed")
    }

    @Test func unknownPathsStay404() async throws {
        let api = try await fixture()
        #expect(try await api.get("/v1/analytics/nothing").status == 404)
        #expect(try await api.get("/nothing", key: nil).status == 404)
        #expect(try await api.request(.TRACE, "/v1/products/p-1", key: APIFixture.apiKey).status == 404)
    }

    // MARK: The OpenAPI document agrees with the server

    @Test func emptyAndNullCategoryAgreeWithTheSchema() async throws {
        let api = try await fixture()
        let doc = try await api.get("/openapi.json", key: nil).json
        let schemas = (doc["components"] as? [String: Any])?["schemas"] as? [String: Any]
        let search = schemas?["SearchRequest"] as? [String: Any]
        let filter = (search?["properties"] as? [String: Any])?["filter"] as? [String: Any]
        let category = (filter?["properties"] as? [String: Any])?["category"] as? [String: Any]
        // The schema rejects "" and allows null, as the server does.
        #expect(category?["minLength"] as? Int == 1)
        #expect(category?["nullable"] as? Bool == true)
        #expect(try await api.post("/v1/search", json: ["text": "tent", "filter": ["category": ""]]).status == 400)
        #expect(try await api.post("/v1/search", json: ["text": "tent", "filter": ["category": NSNull()]]).status == 200)
    }

    @Test func emptyPriceRangeIsAnEmptyAnswerNotA400() async throws {
        // Found by schemathesis: min_price above max_price is schema-valid (no schema can say min <= max).
        let api = try await fixture()
        let reply = try await api.post("/v1/search", json: ["text": "tent", "filter": ["min_price": 9.2e307, "max_price": 6.5e16]])
        #expect(reply.status == 200, "\(reply.text)")
        #expect((reply.json["results"] as? [Any])?.isEmpty == true)
    }

    @Test func documentDeclares401OnlyWhenAKeyIsConfigured() async throws {
        let open = try await StubServer.start(
            APIServerConfiguration(host: "127.0.0.1", port: 0),
            APIDependencies(embedder: StubEmbedder(), vectors: StubVectorStore(), analytics: StubAnalyticsStore()))
        defer { open.stop() }
        let openDoc = try await open.request(.GET, "/openapi.json").reply
        #expect(!openDoc.text.contains("\"401\""), "401 declared without a key")
        #expect(!openDoc.text.contains("securitySchemes"), "security declared without a key")
        #expect(try await open.request(.GET, "/v1/analytics/funnel").reply.status == 200)

        let api = try await fixture()
        let keyedDoc = try await api.get("/openapi.json", key: nil)
        let paths = keyedDoc.json["paths"] as? [String: [String: Any]] ?? [:]
        for (path, operations) in paths where path.hasPrefix("/v1") {
            for (method, operation) in operations {
                let operation = operation as? [String: Any] ?? [:]
                #expect((operation["responses"] as? [String: Any])?["401"] != nil, "\(method) \(path)")
                #expect(operation["security"] != nil, "\(method) \(path)")
            }
        }
    }

    // MARK: F6: a hanging vector store does not hang the API

    @Test func hangingVectorStoreDoesNotHangTheAPI() async throws {
        let vectors = StubVectorStore()
        vectors.set(.hang(.seconds(30)))
        let server = try await StubServer.start(
            APIServerConfiguration(host: "127.0.0.1", port: 0),
            APIDependencies(embedder: StubEmbedder(), vectors: vectors, analytics: StubAnalyticsStore()))
        defer { server.stop() }
        let similar = try await server.request(.GET, "/v1/products/p-1/similar", timeout: 5)
        #expect(similar.reply.status == 503)
        #expect(similar.seconds < 3)
        let status = try await server.request(.GET, "/status", timeout: 5)
        #expect(status.reply.status == 200)
        #expect(status.seconds < 3)
    }
}
