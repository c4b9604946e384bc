import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing
import VectorStreamCore
import VectorStreamServer

/// The OpenAPI document and the server agree: every status the server answers on a route is declared for that
/// route's operation, 401 only where a key is configured, and a method the document does not list is a 405
/// whose `Allow` names exactly the methods it lists.
@Suite("OpenAPI document conformance")
struct OpenAPIConformanceTests {
    struct Observation: Hashable, CustomStringConvertible {
        let method: String
        let route: String
        let status: Int
        var description: String { "\(method.uppercased()) \(route) -> \(status)" }
    }

    /// Requests that make each route answer each status it can, on a healthy and on a broken set of stubs.
    static func observe(key: String?) async throws -> (observed: Set<Observation>, document: [String: Any], servers: [StubServer]) {
        let healthy = try await StubServer.start(
            APIServerConfiguration(host: "127.0.0.1", port: 0, apiKey: key, maxBodyBytes: 1024),
            APIDependencies(embedder: StubEmbedder(), vectors: StubVectorStore(), analytics: StubAnalyticsStore(),
                            health: [StubHealth(name: "fine", mode: .healthy)]))
        let failingVectors = StubVectorStore()
        failingVectors.set(.fail("down"))
        let brokenVectors = try await StubServer.start(
            APIServerConfiguration(host: "127.0.0.1", port: 0, apiKey: key, breakerFailureThreshold: 100),
            APIDependencies(embedder: StubEmbedder(), vectors: failingVectors, analytics: StubAnalyticsStore(revenue: .infinity),
                            health: [StubHealth(name: "gone", mode: .fail("down"))]))
        let failingAnalytics = StubAnalyticsStore()
        failingAnalytics.set(.fail("down"))
        let brokenAnalytics = try await StubServer.start(
            APIServerConfiguration(host: "127.0.0.1", port: 0, apiKey: key, breakerFailureThreshold: 100),
            APIDependencies(embedder: StubEmbedder(), vectors: StubVectorStore(), analytics: failingAnalytics))

        var observed = Set<Observation>()
        func record(_ server: StubServer, _ method: HTTPMethod, _ path: String, route: String, body: String? = nil,
                    contentType: String = "application/json", withKey: Bool = true) async throws {
            let (reply, _, _) = try await server.request(method, path, body: body.map { Array($0.utf8) },
                                                         contentType: contentType, key: withKey ? key : nil)
            observed.insert(Observation(method: method.rawValue.lowercased(), route: route, status: reply.status))
        }

        for path in ["/health", "/ready", "/metrics", "/status", "/openapi.json"] {
            try await record(healthy, .GET, path, route: path)
            try await record(brokenVectors, .GET, path, route: path)
        }
        let search = "/v1/search"
        try await record(healthy, .POST, search, route: search, body: #"{"text": "tent"}"#)
        try await record(healthy, .POST, search, route: search, body: #"{"text": ""}"#)
        try await record(healthy, .POST, search, route: search, body: #"{"text": "tent"}"#, contentType: "text/plain")
        try await record(healthy, .POST, search, route: search, body: "{\"text\": \"\(String(repeating: "a", count: 2000))\"}")
        try await record(healthy, .POST, search, route: search, body: #"{"text": "tent"}"#, withKey: false)
        try await record(brokenVectors, .POST, search, route: search, body: #"{"text": "tent"}"#)

        let similar = "/v1/products/{id}/similar"
        for path in ["/v1/products/p-1/similar", "/v1/products/p-1/similar?k=0", "/v1/products/missing-1/similar"] {
            try await record(healthy, .GET, path, route: similar)
        }
        try await record(healthy, .GET, "/v1/products/p-1/similar", route: similar, withKey: false)
        try await record(brokenVectors, .GET, "/v1/products/p-1/similar", route: similar)

        let recommendations = "/v1/users/{id}/recommendations"
        for path in ["/v1/users/u-1/recommendations", "/v1/users/u-1/recommendations?k=x"] {
            try await record(healthy, .GET, path, route: recommendations)
        }
        try await record(healthy, .GET, "/v1/users/u-1/recommendations", route: recommendations, withKey: false)
        try await record(brokenAnalytics, .GET, "/v1/users/u-1/recommendations", route: recommendations)

        for (route, bad) in [("/v1/analytics/top-products", "?event_type=teleport"), ("/v1/analytics/funnel", "?minutes=0"),
                             ("/v1/analytics/categories", "?minutes=x")] {
            try await record(healthy, .GET, route, route: route)
            try await record(healthy, .GET, route + bad, route: route)
            try await record(healthy, .GET, route, route: route, withKey: false)
            try await record(brokenVectors, .GET, route, route: route)  // infinite revenue: 500 where revenue is shown
            try await record(brokenAnalytics, .GET, route, route: route)
        }
        // The console's routes: answers, bad parameters, no key, a failing store.
        for (route, bad) in [("/v1/dead-letters", "?limit=0"), ("/v1/metrics/history", "?metric=nope"), ("/v1/overview", "")] {
            let good = route == "/v1/metrics/history" ? route + "?metric=latency_p99_ms" : route
            try await record(healthy, .GET, good, route: route)
            if !bad.isEmpty { try await record(healthy, .GET, route + bad, route: route) }
            try await record(healthy, .GET, good, route: route, withKey: false)
            try await record(brokenVectors, .GET, good, route: route)
        }
        try await record(healthy, .GET, "/v1/dead-letters?before=garbage", route: "/v1/dead-letters")
        let document = try await healthy.request(.GET, "/openapi.json").reply.json
        return (observed, document, [healthy, brokenVectors, brokenAnalytics])
    }

    @Test(arguments: ["the-key", nil] as [String?])
    func everyAnsweredStatusIsDeclared(key: String?) async throws {
        let (observed, document, servers) = try await Self.observe(key: key)
        defer { servers.forEach { $0.stop() } }
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        for o in observed.sorted(by: { $0.description < $1.description }) {
            let operation = paths[o.route]?[o.method] as? [String: Any]
            #expect(operation != nil, "\(o): the operation is not in the document")
            let responses = operation?["responses"] as? [String: Any] ?? [:]
            #expect(responses[String(o.status)] != nil, "\(o) is not declared (declared: \(responses.keys.sorted()))")
        }
        // The statuses this walk is meant to produce were produced (so the check above covered them).
        let statuses = Set(observed.map(\.status))
        let expected: Set<Int> = key == nil ? [200, 400, 404, 413, 415, 500, 503] : [200, 400, 401, 404, 413, 415, 500, 503]
        #expect(statuses == expected)
        // 401 is declared exactly when the server can answer it.
        for (path, operations) in paths {
            for (method, op) in operations {
                let responses = (op as? [String: Any])?["responses"] as? [String: Any] ?? [:]
                #expect((responses["401"] != nil) == (key != nil && path.hasPrefix("/v1")), "\(method) \(path)")
                if path.hasPrefix("/v1") {
                    #expect(responses["503"] != nil, "\(method) \(path)")
                    let unavailable = ((document["components"] as? [String: Any])?["responses"] as? [String: Any])?["Unavailable"] as? [String: Any]
                    #expect((unavailable?["headers"] as? [String: Any])?["Retry-After"] != nil)
                }
            }
        }
    }

    @Test(arguments: ["the-key", nil] as [String?])
    func unlistedMethodsAre405WithTheListedOnesAllowed(key: String?) async throws {
        let server = try await StubServer.start(
            APIServerConfiguration(host: "127.0.0.1", port: 0, apiKey: key),
            APIDependencies(embedder: StubEmbedder(), vectors: StubVectorStore(), analytics: StubAnalyticsStore()))
        defer { server.stop() }
        let document = try await server.request(.GET, "/openapi.json").reply.json
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        #expect(paths.count == 14)
        for (path, operations) in paths {
            let concrete = path.replacingOccurrences(of: "{id}", with: "p-1")
            let listed = Set(operations.keys.map { $0.uppercased() })
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "OPTIONS"] where !listed.contains(method) {
                let reply = try await RawHTTP.send(port: server.port, head: """
                    \(method) \(concrete) HTTP/1.1\r
                    Host: 127.0.0.1\r
                    \(key.map { "X-API-Key: \($0)\r\n" } ?? "")Content-Length: 0\r
                    Connection: close
                    """)
                #expect(reply.status == 405, "\(method) \(path): \(reply.status)")
                #expect(Set((reply.header("Allow") ?? "").components(separatedBy: ", ")) == listed, "\(method) \(path)")
            }
        }
    }
}
