import Foundation
import Hummingbird
import Logging
import VectorStreamCore

/// The route logic, separate from routing so each answer reads as one function.
struct APIHandlers: Sendable {
    /// The dependencies, each store behind its guard (deadline + breaker).
    let dependencies: APIDependencies
    let configuration: APIServerConfiguration
    /// One per guarded dependency, in the order /health lists them.
    let guards: [DependencyGuard]
    /// Guards of the console's sources (dead letters, metrics history), when there are any.
    let deadLetterGuard: DependencyGuard?
    let historyGuard: DependencyGuard?
    let healthMemory = HealthMemory()

    init(dependencies: APIDependencies, configuration: APIServerConfiguration, logger: Logger) {
        self.configuration = configuration
        let breaker = CircuitBreaker.Configuration(failureThreshold: configuration.breakerFailureThreshold,
                                                   cooldown: configuration.breakerCooldown)
        func guarded(_ name: String) -> DependencyGuard {
            DependencyGuard(name: name, timeout: configuration.readTimeout, breaker: breaker, logger: logger)
        }
        var d = dependencies
        var guards: [DependencyGuard] = []
        let vectors = guarded("vector_store"), analytics = guarded("analytics_store")
        d.vectors = GuardedVectorStore(inner: dependencies.vectors, guarded: vectors)
        d.analytics = GuardedAnalyticsStore(inner: dependencies.analytics, guarded: analytics)
        guards += [vectors, analytics]
        if let cache = dependencies.queryCache {
            let g = guarded("query_cache")
            d.queryCache = GuardedQueryCache(inner: cache, guarded: g)
            guards.append(g)
        }
        if let live = dependencies.liveState {
            let g = guarded("live_state")
            d.liveState = GuardedLiveState(inner: live, guarded: g)
            guards.append(g)
        }
        deadLetterGuard = dependencies.deadLetters == nil ? nil : guarded("dead_letters")
        historyGuard = dependencies.metricsHistory == nil ? nil : guarded("metrics_history")
        guards += [deadLetterGuard, historyGuard].compactMap { $0 }
        self.dependencies = d
        self.guards = guards
    }

    // MARK: Probes

    /// Each health check's answer and latency, and each guarded dependency's breaker. A dependency that is
    /// down makes the whole `down` (503); one degraded, or a breaker that is not closed, makes it `degraded`.
    func health() async throws -> Response {
        let results = await checkAll()
        var overall = "ok"
        var dependencies: [String: Any] = [:]
        for check in results {
            var entry: [String: Any] = ["latency_ms": Self.milliseconds(check.latency)]
            switch check.health {
            case .ok: entry["status"] = "ok"
            case .degraded(let reason):
                entry["status"] = "degraded"
                entry["reason"] = reason
                if overall == "ok" { overall = "degraded" }
            case .down(let reason):
                entry["status"] = "down"
                entry["reason"] = reason
                overall = "down"
            }
            dependencies[check.name] = entry
        }
        var breakers: [String: Any] = [:]
        for g in guards {
            let s = g.breaker.snapshot()
            var entry: [String: Any] = [
                "state": s.state.rawValue,
                "since": ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(s.sinceWallMillis) / 1000)),
                "consecutive_failures": s.consecutiveFailures,
                "last_error": s.lastError ?? NSNull(),
                "last_latency_ms": s.lastLatency.map(Self.milliseconds) ?? NSNull(),
            ]
            if let after = s.retryAfter { entry["retry_after_ms"] = Self.milliseconds(after) }
            breakers[g.name] = entry
            if s.state != .closed, overall == "ok" { overall = "degraded" }
        }
        return try JSON.response(["status": overall, "dependencies": dependencies, "breakers": breakers],
                                 status: overall == "down" ? .serviceUnavailable : .ok)
    }

    func ready() async throws -> Response {
        let down = await checkAll().filter { if case .down = $0.health { return true } else { return false } }.map(\.name)
        if down.isEmpty { return try JSON.response(["ready": true]) }
        return try JSON.response(["ready": false, "waiting_for": down.sorted()], status: .serviceUnavailable)
    }

    /// Each dependency checked concurrently, none waited for longer than the read timeout (a check that ignores
    /// cancellation is left behind, not awaited).
    func checkAll() async -> [(name: String, health: DependencyHealth, latency: Duration)] {
        let timeout = configuration.readTimeout
        return await withTaskGroup(of: (name: String, health: DependencyHealth, latency: Duration).self) { group in
            for dependency in dependencies.health {
                group.addTask {
                    let start = ContinuousClock.now
                    let health: DependencyHealth
                    do {
                        health = try await withDeadline(timeout) { await dependency.checkHealth() }
                    } catch let error as DeadlineExceeded {
                        health = .down(error.description)
                    } catch {
                        health = .down("no answer")
                    }
                    return (dependency.dependencyName, health, ContinuousClock.now - start)
                }
            }
            var all: [(name: String, health: DependencyHealth, latency: Duration)] = []
            for await result in group { all.append(result) }
            return all.sorted { $0.name < $1.name }
        }
    }

    static func milliseconds(_ d: Duration) -> Double {
        let c = d.components
        return ((Double(c.seconds) * 1000 + Double(c.attoseconds) / 1e15) * 1000).rounded() / 1000
    }

    func metrics() -> Response {
        var buffer: [UInt8] = []
        dependencies.prometheus?.emit(into: &buffer)
        return JSON.bytesResponse(buffer, contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    /// The pipeline's figures: this process's and every worker's in live state. Never blocks: each part is
    /// bounded by the read timeout (and fails at once while its breaker is open), and what could not be read
    /// is named in `unavailable` instead of holding the answer.
    func status() async throws -> Response {
        let live = dependencies.liveState, vectors = dependencies.vectors
        async let workersPart = Self.attempt { () async throws -> [String: PipelineStats]? in try await live?.workers() }
        async let countPart = Self.attempt { try await vectors.count() }
        var unavailable: [String: Any] = [:]
        var body: [String: Any] = ["model_version": dependencies.embedder.modelVersion]
        switch await workersPart {
        case .success(let all?):
            var workers: [String: Any] = [:]
            for (name, stats) in all { workers[name] = try Self.object(stats) }
            body["workers"] = workers
        case .success(nil):
            body["workers"] = [String: Any]()
        case .failure(let error):
            body["workers"] = NSNull()
            unavailable["live_state"] = Self.reason(error)
        }
        switch await countPart {
        case .success(let n): body["vectors"] = n
        case .failure(let error):
            body["vectors"] = NSNull()
            unavailable["vector_store"] = Self.reason(error)
        }
        if let local = dependencies.localStats { body["local"] = try Self.object(local()) }
        if !unavailable.isEmpty { body["unavailable"] = unavailable }
        return try JSON.response(body)
    }

    static func attempt<T>(_ operation: () async throws -> T) async -> Result<T, any Error> {
        do { return .success(try await operation()) } catch { return .failure(error) }
    }

    static func reason(_ error: any Error) -> String {
        (error as? DependencyUnavailable)?.detail ?? "failed"
    }

    static func object(_ stats: PipelineStats) throws -> Any {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(stats))
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
        guard text.unicodeScalars.count <= 4096 else { throw APIError.badRequest("\"text\" is over 4096 characters") }
        let k = try Self.integer(object["k"], name: "k", default: 10, range: 1...100, allowText: false)
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
        }
        // A price range with min_price above max_price is valid JSON Schema and matches nothing: an empty answer,
        // not a 400 (the schema cannot say "min <= max", and the server agrees with the schema).
        if let lo = filter.minPrice, let hi = filter.maxPrice, lo > hi {
            return try JSON.response(["query": text, "k": k, "results": [Any]()])
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
        return try JSON.response(["product_id": id, "k": k, "results": hits.map(Self.object)])
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
            return try JSON.response(["user_id": userID, "strategy": "personalized", "based_on": used,
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
        // The same fields as the personalized answer: the price from the product's vector (a product without one
        // is not recommended), and as score its count over the top product's (1 for the most popular).
        let top = Double(max(popular.map(\.count).max() ?? 1, 1))
        var results: [[String: Any]] = []
        for item in popular {
            guard let v = try await dependencies.vectors.vector(forProduct: item.productID) else { continue }
            results.append(["product_id": item.productID, "score": Double(item.count) / top, "name": item.name,
                            "category": item.category, "price": v.price])
        }
        return try JSON.response(["user_id": userID, "strategy": "popular", "based_on": 0, "results": results])
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
            return ["minutes": minutes, "counts": "distinct sessions", "views": f.views, "carts": f.carts, "purchases": f.purchases,
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
        // Encoded before it is cached: a document that cannot be encoded is a 500 (thrown), never stored.
        let bytes = try JSON.encode(try await compute())
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

    /// An integer from a query parameter (text) or a JSON body (a number; text only when `allowText`).
    static func integer(_ value: Any?, name: String, default fallback: Int, range: ClosedRange<Int>,
                        allowText: Bool = true) throws -> Int {
        guard let value, !(value is NSNull) else { return fallback }
        let number: Int?
        switch value {
        case let s as String where allowText: number = Int(s)
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

    /// 1 to 256 characters (Unicode scalars, as JSON Schema counts them), none of them a control character
    /// (U+0000-U+001F, U+007F-U+009F): the OpenAPI document's `maxLength` and `pattern` say the same.
    static func checkID(_ id: String, name: String) throws {
        let count = id.unicodeScalars.count
        guard count >= 1, count <= 256, !id.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw APIError.badRequest("\(name) must be 1 to 256 characters, none of them a control character")
        }
    }

    /// A path parameter percent-decoded (UTF-8): `p%2D1` is `p-1`, `caf%C3%A9` is `café`. A broken escape or
    /// bytes that are not UTF-8 are a bad request.
    static func pathParameter(_ raw: String, name: String) throws -> String {
        guard raw.utf8.contains(UInt8(ascii: "%")) else { return raw }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.utf8.count)
        var i = raw.utf8.startIndex
        let utf8 = raw.utf8
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        while i < utf8.endIndex {
            let b = utf8[i]
            if b == UInt8(ascii: "%") {
                let h = utf8.index(after: i)
                guard h < utf8.endIndex, utf8.index(after: h) < utf8.endIndex,
                      let hi = hex(utf8[h]), let lo = hex(utf8[utf8.index(after: h)])
                else { throw APIError.badRequest("\(name) has a broken percent escape") }
                bytes.append(hi << 4 | lo)
                i = utf8.index(h, offsetBy: 2)
            } else {
                bytes.append(b)
                i = utf8.index(after: i)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw APIError.badRequest("\(name) is not UTF-8 once percent-decoded")
        }
        return decoded
    }

    /// POST bodies are JSON: another (or no) `Content-Type` is a 415, and a `Content-Length` over the limit a
    /// 413 before any of the body is read.
    func checkJSONBody(_ headers: HTTPFields) throws {
        let type = headers[.contentType].map { $0.split(separator: ";", maxSplits: 1)[0].trimmingCharacters(in: .whitespaces).lowercased() }
        guard type == "application/json" else {
            throw APIError(.unsupportedMediaType, "unsupported_media_type",
                           "the body must be sent as Content-Type: application/json (got \(headers[.contentType].map { "'\($0)'" } ?? "none"))")
        }
        if let length = headers[.contentLength], let n = UInt64(length.trimmingCharacters(in: .whitespaces)),
           n > UInt64(configuration.maxBodyBytes) {
            throw APIError(.contentTooLarge, "body_too_large",
                           "the body is \(n) bytes; the limit is \(configuration.maxBodyBytes)",
                           headers: [.connection: "close"])
        }
    }
}
