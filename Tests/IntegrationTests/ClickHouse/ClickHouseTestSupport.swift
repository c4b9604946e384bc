import Foundation
import VectorStreamClickHouse
import VectorStreamCore

/// Shared by the ClickHouse suites: a store on its own database, and events with known answers.
enum ClickHouseTestSupport {
    static func serverURL() throws -> String {
        try TestServices.url("clickhouse", environmentVariable: "VECTORSTREAM_TEST_CLICKHOUSE_URL")
    }

    /// Runs `body` with a store on a fresh database, then drops the database and shuts the store down.
    static func withStore<T>(url: String? = nil, connectTimeout: Duration = .seconds(2), storeRawJSON: Bool = false,
                             _ body: (ClickHouseEventStore) async throws -> T) async throws -> T {
        let url = try url ?? serverURL()
        let database = "vs_test_\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000_000)"
        let store = ClickHouseEventStore(configuration: ClickHouseConfiguration(
            url: url, database: database, connectTimeout: connectTimeout, storeRawJSON: storeRawJSON))
        do {
            let result = try await body(store)
            try? await store.client.execute("DROP DATABASE IF EXISTS `\(database)`")
            try await store.shutdown()
            return result
        } catch {
            try? await store.client.execute("DROP DATABASE IF EXISTS `\(database)`")
            try? await store.shutdown()
            throw error
        }
    }

    static let categories = ["books", "garden", "kitchen", "toys", "audio"]

    /// Deterministic events spread over about 3.3 hours, starting 17 s after a whole hour, so every query
    /// touches the raw head, minute buckets and hour buckets. Positions: topic `t`, two partitions.
    static func events(count: Int = 12_000, seed: UInt64 = 7, startOffset: Int64 = 0,
                       start: Int64 = 1_767_225_600_000 + 17_000) -> [AcceptedEvent] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(bound))
        }
        var events: [AcceptedEvent] = []
        events.reserveCapacity(count)
        let types: [EventType] = [.view, .view, .view, .view, .addToCart, .addToCart, .purchase, .search,
                                  .wishlistAdd, .removeFromCart]
        for index in 0..<count {
            let productIndex = min(next(60), next(60))  // skewed: low ids are popular
            let category = categories[productIndex % categories.count]
            let product = Product(id: "p-\(productIndex)", name: "Product \(productIndex)\tquoted 'x'",
                                  description: "d", category: category,
                                  price: Double(100 + productIndex * 37 % 900) / 10)
            let event = Event(eventID: "e-\(seed)-\(index)", timestamp: start + Int64(index) * 997,
                              userID: "u-\(next(40))", type: types[next(types.count)], product: product,
                              sessionID: "s-\(index / 7)-\(next(3))")
            let partition = Int32(index % 2)
            let position = SourcePosition(topic: "t", partition: partition, offset: startOffset + Int64(index / 2))
            let raw = Array(#"{"event_id":"\#(event.eventID)"}"#.utf8)
            events.append(AcceptedEvent(event: event, raw: raw, position: position, arrivalNanos: 0))
        }
        return events
    }

    // MARK: The same figures, computed here from the events.

    static func topProducts(_ events: [AcceptedEvent], type: EventType, since: Int64, limit: Int)
        -> [(id: String, count: Int64, revenue: Double)]
    {
        var counts: [String: (Int64, Double)] = [:]
        for e in events.map(\.event) where e.type == type && e.timestamp >= since {
            let current = counts[e.product.id] ?? (0, 0)
            counts[e.product.id] = (current.0 + 1, current.1 + e.product.price)
        }
        return counts.map { (id: $0.key, count: $0.value.0, revenue: $0.value.1) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.id < $1.id }
            .prefix(limit).map { $0 }
    }

    static func funnel(_ events: [AcceptedEvent], since: Int64) -> Funnel {
        func sessions(_ type: EventType) -> Int64 {
            Int64(Set(events.map(\.event).filter { $0.type == type && $0.timestamp >= since }.map(\.sessionID)).count)
        }
        return Funnel(views: sessions(.view), carts: sessions(.addToCart), purchases: sessions(.purchase))
    }

    static func categories(_ events: [AcceptedEvent], since: Int64) -> [String: CategoryStats] {
        var result: [String: CategoryStats] = [:]
        for e in events.map(\.event) where e.timestamp >= since {
            var stats = result[e.product.category] ?? CategoryStats(category: e.product.category, events: 0,
                                                                    purchases: 0, revenue: 0)
            stats.events += 1
            if e.type == .purchase {
                stats.purchases += 1
                stats.revenue += e.product.price
            }
            result[e.product.category] = stats
        }
        return result
    }

    static func recent(_ events: [AcceptedEvent], user: String, limit: Int) -> [UserInteraction] {
        events.map(\.event).filter { $0.userID == user }.sorted { $0.timestamp > $1.timestamp }.prefix(limit)
            .map { UserInteraction(productID: $0.product.id, type: $0.type, timestamp: $0.timestamp) }
    }

    /// Every answer the store gives, in one comparable value.
    struct Snapshot: Equatable {
        var count: Int64
        var top: [[ProductCount]]
        var funnels: [Funnel]
        var categories: [[CategoryStats]]
        var recent: [[UserInteraction]]
    }

    /// Revenues are rounded to 1e-4: a merge between two reads may change the order of a float sum.
    static func snapshot(_ store: ClickHouseEventStore, sinces: [Int64]) async throws -> Snapshot {
        func rounded(_ x: Double) -> Double { (x * 10_000).rounded() / 10_000 }
        var snapshot = Snapshot(count: try await store.eventCount(), top: [], funnels: [], categories: [], recent: [])
        for since in sinces {
            for type in [EventType.view, .purchase, .addToCart] {
                var top = try await store.topProducts(eventType: type, since: since, limit: 10)
                for i in top.indices { top[i].revenue = rounded(top[i].revenue) }
                snapshot.top.append(top)
            }
            snapshot.funnels.append(try await store.funnel(since: since))
            var categories = try await store.categories(since: since)
            for i in categories.indices { categories[i].revenue = rounded(categories[i].revenue) }
            snapshot.categories.append(categories.sorted { $0.category < $1.category })
        }
        for user in ["u-1", "u-7", "u-33"] {
            snapshot.recent.append(try await store.recentInteractions(userID: user, limit: 20))
        }
        return snapshot
    }

    /// Runs `scripts/services/clickhouse.sh` with extra environment (a second, private server).
    @discardableResult
    static func serviceScript(_ argument: String, environment: [String: String]) throws -> String {
        try TestServices.run(script: "scripts/services/clickhouse.sh", arguments: [argument], environment: environment)
    }
}
