import Foundation
import Hummingbird
import VectorStreamCore

/// The route logic, separate from routing so each answer reads as one function.
struct APIHandlers: Sendable {
    let dependencies: APIDependencies
    let configuration: APIServerConfiguration

    init(dependencies: APIDependencies, configuration: APIServerConfiguration) {
        self.dependencies = dependencies
        self.configuration = configuration
    }

    // MARK: Probes

    func health() async -> Response {
        let results = await checkAll()
        var overall = "ok"
        var dependencies: [String: Any] = [:]
        for (name, health) in results {
            switch health {
            case .ok: dependencies[name] = ["status": "ok"]
            case .degraded(let reason):
                dependencies[name] = ["status": "degraded", "reason": reason]
                if overall == "ok" { overall = "degraded" }
            case .down(let reason):
                dependencies[name] = ["status": "down", "reason": reason]
                overall = "down"
            }
        }
        return JSON.response(["status": overall, "dependencies": dependencies],
                             status: overall == "down" ? .serviceUnavailable : .ok)
    }

    func ready() async -> Response {
        let down = await checkAll().filter { if case .down = $0.1 { return true } else { return false } }.map(\.0)
        if down.isEmpty { return JSON.response(["ready": true]) }
        return JSON.response(["ready": false, "waiting_for": down.sorted()], status: .serviceUnavailable)
    }

    /// Each dependency checked concurrently, none allowed more than two seconds.
    private func checkAll() async -> [(String, DependencyHealth)] {
        await withTaskGroup(of: (String, DependencyHealth).self) { group in
            for dependency in dependencies.health {
                group.addTask {
                    await withTaskGroup(of: DependencyHealth?.self) { race in
                        race.addTask { await dependency.checkHealth() }
                        race.addTask {
                            try? await Task.sleep(for: .seconds(2))
                            return Task.isCancelled ? nil : .down("no answer within 2 s")
                        }
                        let first = await race.next()!
                        race.cancelAll()
                        return (dependency.dependencyName, first ?? .down("no answer"))
                    }
                }
            }
            var all: [(String, DependencyHealth)] = []
            for await result in group { all.append(result) }
            return all.sorted { $0.0 < $1.0 }
        }
    }

    func metrics() -> Response {
        var buffer: [UInt8] = []
        dependencies.prometheus?.emit(into: &buffer)
        return JSON.bytesResponse(buffer, contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    /// The pipeline's figures: this process's and every worker's in live state.
    func status() async throws -> Response {
        var workers: [String: Any] = [:]
        if let live = dependencies.liveState, let all = try? await live.workers() {
            for (name, stats) in all { workers[name] = Self.object(stats) }
        }
        var body: [String: Any] = ["workers": workers]
        if let local = dependencies.localStats { body["local"] = Self.object(local()) }
        body["vectors"] = (try? await dependencies.vectors.count()) ?? NSNull()
        body["model_version"] = dependencies.embedder.modelVersion
        return JSON.response(body)
    }

    static func object(_ stats: PipelineStats) -> Any {
        (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(stats))) ?? [:]
    }

    // MARK: Search

    func search(body: [UInt8]) async throws -> Response {
        guard !body.isEmpty else { throw APIError.badRequest("the body must be a JSON object with a \"text\" field") }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(body))
        } catch {
            throw APIError(.badRequest, "invalid_json", "the body is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else { throw APIError.badRequest("the body must be a JSON object") }
        guard let text = object["text"] as? String else { throw APIError.badRequest("\"text\" is required and must be a string") }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw APIError.badRequest("\"text\" must not be empty") }
        guard text.utf8.count <= 4096 else { throw APIError.badRequest("\"text\" is over 4096 bytes") }
        let k = try Self.integer(object["k"], name: "k", default: 10, range: 1...100)
        var filter = SearchFilter()
        if let f = object["filter"], !(f is NSNull) {
            guard let f = f as? [String: Any] else { throw APIError.badRequest("\"filter\" must be an object") }
            for key in f.keys where !["category", "min_price", "max_price"].contains(key) {
                throw APIError.badRequest("unknown filter field \"\(key)\" (known: category, min_price, max_price)")
            }
            if let c = f["category"], !(c is NSNull) {
                guard let c = c as? String, !c.isEmpty else { throw APIError.badRequest("filter.category must be a non-empty string") }
                filter.category = c
            }
            filter.minPrice = try Self.price(f["min_price"], name: "filter.min_price")
            filter.maxPrice = try Self.price(f["max_price"], name: "filter.max_price")
            if let lo = filter.minPrice, let hi = filter.maxPrice, lo > hi {
                throw APIError.badRequest("filter.min_price must not exceed filter.max_price")
            }
        }
        let cacheKey = "search:\(k):\(filter.category ?? ""):\(filter.minPrice ?? -1):\(filter.maxPrice ?? -1):\(trimmed)"
        return try await cached(cacheKey) {
            let vector = try await dependencies.embedder.embed([text])[0]
            let hits = try await dependencies.vectors.search(vector, k: k, filter: filter,
                                                             modelVersion: dependencies.embedder.modelVersion)
            return ["query": text, "k": k, "results": hits.map(Self.object)]
        }
    }

    func similar(id: String, query: Parameters) async throws -> Response {
        try Self.checkID(id, name: "product id")
        let k = try Self.integer(query["k"].map { String($0) }, name: "k", default: 10, range: 1...100)
        guard let product = try await dependencies.vectors.vector(forProduct: id),
              product.modelVersion == dependencies.embedder.modelVersion
        else { throw APIError.notFound("no product '\(id)' has a vector of the current model") }
        let hits = try await dependencies.vectors.search(product.vector, k: k, filter: SearchFilter(excludedProductIDs: [id]),
                                                         modelVersion: product.modelVersion)
        return JSON.response(["product_id": id, "k": k, "results": hits.map(Self.object)])
    }

    /// Weighted, recency-decayed mean of the user's recent products, minus what they bought; popular items otherwise.
    func recommendations(userID: String, query: Parameters) async throws -> Response {
        try Self.checkID(userID, name: "user id")
        let k = try Self.integer(query["k"].map { String($0) }, name: "k", default: 10, range: 1...100)
        let interactions = try await dependencies.analytics.recentInteractions(userID: userID, limit: 50)
        let bought = Set(interactions.filter { $0.type == .purchase }.map(\.productID))
        // Weight per product first (recent first, decayed), so each product's vector is fetched once.
        var weights: [String: Float] = [:]
        var decay: Float = 1
        for interaction in interactions {
            defer { decay *= 0.9 }
            let weight: Float = switch interaction.type {
            case .purchase: 4
            case .addToCart: 3
            case .wishlistAdd: 2
            case .view: 1
            case .search: 0.5
            case .removeFromCart: 0
            }
            if weight > 0 { weights[interaction.productID, default: 0] += weight * decay }
        }
        var profile = [Float](repeating: 0, count: dependencies.embedder.dimension)
        var used = 0
        for (productID, weight) in weights {
            guard let v = try await dependencies.vectors.vector(forProduct: productID),
                  v.modelVersion == dependencies.embedder.modelVersion
            else { continue }
            for i in profile.indices { profile[i] += weight * v.vector[i] }
            used += 1
        }
        let norm = profile.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if used > 0, norm > 0 {
            let query = profile.map { $0 / norm }
            let hits = try await dependencies.vectors.search(query, k: k, filter: SearchFilter(excludedProductIDs: bought),
                                                             modelVersion: dependencies.embedder.modelVersion)
            return JSON.response(["user_id": userID, "strategy": "personalized", "based_on": used,
                                  "results": hits.map(Self.object)])
        }
        // No usable history: the most bought products of the last week, then the most viewed.
        let weekAgo = wallClockMillis() - 7 * 24 * 3_600_000
        var popular = try await dependencies.analytics.topProducts(eventType: .purchase, since: weekAgo, limit: k)
        if popular.count < k {
            let viewed = try await dependencies.analytics.topProducts(eventType: .view, since: 0, limit: k * 2)
            let have = Set(popular.map(\.productID))
            popular += viewed.filter { !have.contains($0.productID) }.prefix(k - popular.count)
        }
        return JSON.response(["user_id": userID, "strategy": "popular", "based_on": 0, "results": popular.map {
            ["product_id": $0.productID, "name": $0.name, "category": $0.category, "count": $0.count] as [String: Any]
        }])
    }

    // MARK: Analytics

    func topProducts(query: Parameters) async throws -> Response {
        let typeText = query["event_type"].map { String($0) } ?? "purchase"
        guard let type = EventType(rawValue: typeText) else {
            throw APIError.badRequest("event_type must be one of \(EventType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let minutes = try Self.minutes(query)
        let limit = try Self.integer(query["limit"].map { String($0) }, name: "limit", default: 10, range: 1...1000)
        return try await cached("top:\(type.rawValue):\(minutes):\(limit)") {
            let since = wallClockMillis() - Int64(minutes) * 60_000
            let rows = try await dependencies.analytics.topProducts(eventType: type, since: since, limit: limit)
            return ["event_type": type.rawValue, "minutes": minutes, "results": rows.map {
                ["product_id": $0.productID, "name": $0.name, "category": $0.category, "count": $0.count,
                 "revenue": Self.money($0.revenue)] as [String: Any]
            }]
        }
    }

    func funnel(query: Parameters) async throws -> Response {
        let minutes = try Self.minutes(query)
        return try await cached("funnel:\(minutes)") {
            let f = try await dependencies.analytics.funnel(since: wallClockMillis() - Int64(minutes) * 60_000)
            return ["minutes": minutes, "views": f.views, "carts": f.carts, "purchases": f.purchases,
                    "view_to_cart": f.viewToCart, "cart_to_purchase": f.cartToPurchase, "view_to_purchase": f.viewToPurchase]
        }
    }

    func categories(query: Parameters) async throws -> Response {
        let minutes = try Self.minutes(query)
        return try await cached("categories:\(minutes)") {
            let rows = try await dependencies.analytics.categories(since: wallClockMillis() - Int64(minutes) * 60_000)
            return ["minutes": minutes, "results": rows.map {
                ["category": $0.category, "events": $0.events, "purchases": $0.purchases, "revenue": Self.money($0.revenue)]
                    as [String: Any]
            }]
        }
    }

    // MARK: Helpers

    /// Answers from the query cache when it holds this key, else computes and stores.
    private func cached(_ key: String, _ compute: () async throws -> Any) async throws -> Response {
        if let cache = dependencies.queryCache, let hit = try? await cache.cached(key) {
            return JSON.bytesResponse(hit)
        }
        let bytes = JSON.encode(try await compute())
        if let cache = dependencies.queryCache { try? await cache.store(key, value: bytes, ttl: configuration.queryCacheTTL) }
        return JSON.bytesResponse(bytes)
    }

    static func object(_ hit: SearchHit) -> [String: Any] {
        ["product_id": hit.productID, "score": Double(hit.score), "name": hit.name, "category": hit.category,
         "price": hit.price]
    }

    static func money(_ value: Double) -> Double { (value * 100).rounded() / 100 }

    static func minutes(_ query: Parameters) throws -> Int {
        try integer(query["minutes"].map { String($0) }, name: "minutes", default: 60, range: 1...525_600)
    }

    static func integer(_ value: Any?, name: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        guard let value, !(value is NSNull) else { return fallback }
        let number: Int?
        switch value {
        case let s as String: number = Int(s)
        case let n as NSNumber where !isBool(n):
            number = n.doubleValue == n.doubleValue.rounded() && abs(n.doubleValue) < 1e15 ? Int(n.doubleValue) : nil
        default: number = nil
        }
        guard let number else { throw APIError.badRequest("\(name) must be an integer") }
        guard range.contains(number) else {
            throw APIError.badRequest("\(name) must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return number
    }

    static func price(_ value: Any?, name: String) throws -> Double? {
        guard let value, !(value is NSNull) else { return nil }
        guard let n = value as? NSNumber, !isBool(n), n.doubleValue.isFinite, n.doubleValue >= 0
        else { throw APIError.badRequest("\(name) must be a number >= 0") }
        return n.doubleValue
    }

    /// JSON booleans arrive as NSNumber too; their type encoding tells them apart.
    static func isBool(_ n: NSNumber) -> Bool {
        let t = String(cString: n.objCType)
        return t == "c" || t == "B"
    }

    static func checkID(_ id: String, name: String) throws {
        guard !id.isEmpty, id.utf8.count <= 256, !id.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw APIError.badRequest("\(name) must be 1 to 256 printable characters")
        }
    }
}
