import Foundation
import VectorStreamCore

/// Insert throughput through the sink and latency of every analytics query, for BENCHMARKS.md.
///
/// Events are made here (deterministic, shaped like the generator's: Zipf-popular products, sessions,
/// a funnel, about 300 bytes of raw JSON each) so the figure is the sink's, not the generator's.
public struct ClickHouseBenchmark: Sendable {
    public var events: Int
    /// Events per `store` call: the pipeline's default micro-batch (`max_events_per_trigger`).
    public var batchSize: Int
    /// Times each analytics query is run for the latency percentiles.
    public var queryRepetitions: Int
    public var productCount: Int

    public init(events: Int = 10_000_000, batchSize: Int = 50_000, queryRepetitions: Int = 200,
                productCount: Int = 2_000) {
        self.events = events
        self.batchSize = batchSize
        self.queryRepetitions = queryRepetitions
        self.productCount = productCount
    }

    public struct QueryLatency: Sendable {
        public var name: String
        public var p50Millis: Double
        public var p99Millis: Double
        public var maxMillis: Double
    }

    public struct Report: Sendable {
        public var events: Int
        public var insertSeconds: Double
        public var rowsPerSecond: Double { insertSeconds > 0 ? Double(events) / insertSeconds : 0 }
        public var storedCount: Int64
        public var queries: [QueryLatency]
        public var serverVersion: String
    }

    public func run(store: ClickHouseEventStore, progress: @Sendable (String) -> Void = { _ in }) async throws -> Report {
        let report = try await store.prepare()
        var maker = BenchmarkEvents(productCount: productCount)
        var insertNanos: UInt64 = 0
        var made = 0
        while made < events {
            let batch = maker.batch(min(batchSize, events - made))
            let start = monotonicNanos()
            try await store.store(batch)
            insertNanos += monotonicNanos() - start
            made += batch.count
            if made % (batchSize * 20) == 0 || made == events {
                progress("inserted \(made) events, \(Int(Double(made) / (Double(insertNanos) / 1e9))) rows/s")
            }
        }
        let stored = try await store.eventCount()
        let last = maker.lastTimestamp
        let sinces: [(String, Int64)] = [("all", 0), ("last hour", last - 3_600_000 + 12_345),
                                         ("last 5 min", last - 300_000 + 789)]
        var queries: [QueryLatency] = []
        func measure(_ name: String, _ body: () async throws -> Void) async throws {
            try await body()  // warm
            var samples: [Double] = []
            for _ in 0..<queryRepetitions {
                let start = monotonicNanos()
                try await body()
                samples.append(Double(monotonicNanos() - start) / 1e6)
            }
            samples.sort()
            let p = { (q: Double) in samples[min(samples.count - 1, Int((Double(samples.count) * q).rounded(.up)) - 1)] }
            queries.append(QueryLatency(name: name, p50Millis: p(0.5), p99Millis: p(0.99), maxMillis: samples.last ?? 0))
            progress("\(name): p50 \(String(format: "%.2f", p(0.5))) ms, p99 \(String(format: "%.2f", p(0.99))) ms")
        }
        for (label, since) in sinces {
            try await measure("topProducts(view, \(label))") {
                _ = try await store.topProducts(eventType: .view, since: since, limit: 10)
            }
            try await measure("topProducts(purchase, \(label))") {
                _ = try await store.topProducts(eventType: .purchase, since: since, limit: 10)
            }
            try await measure("funnel(\(label))") { _ = try await store.funnel(since: since) }
            try await measure("categories(\(label))") { _ = try await store.categories(since: since) }
        }
        var user = 0
        try await measure("recentInteractions") {
            user = (user &+ 7_919) % (productCount * 5)
            _ = try await store.recentInteractions(userID: "user-\(user + 1)", limit: 20)
        }
        try await measure("eventCount") { _ = try await store.eventCount() }
        return Report(events: events, insertSeconds: Double(insertNanos) / 1e9, storedCount: stored,
                      queries: queries, serverVersion: "\(report.serverVersion)")
    }
}

/// Deterministic shop events for the benchmark.
struct BenchmarkEvents {
    var state: UInt64 = 0x2545_F491_4F6C_DD1D
    var produced: Int64 = 0
    let products: [Product]
    let userCount: Int
    var sessions: [(id: String, user: String, left: Int)] = []
    let start: EpochMillis = 1_767_225_600_000
    var lastTimestamp: EpochMillis = 1_767_225_600_000
    static let categories = ["electronics", "books", "kitchen", "garden", "toys", "sports", "beauty", "fashion",
                             "grocery", "office"]

    init(productCount: Int) {
        products = (0..<productCount).map { i in
            Product(id: "p-\(i + 1)", name: "Product \(i + 1) \(Self.categories[i % 10]) model \(i * 7 % 97)",
                    description: "A well made \(Self.categories[i % 10]) item with a long description of its uses, "
                        + "materials and care, number \(i + 1), for benchmarking realistic row sizes.",
                    category: Self.categories[i % 10], price: Double(199 + (i * 7_919) % 20_000) / 100)
        }
        userCount = productCount * 5
    }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    mutating func batch(_ count: Int) -> [AcceptedEvent] {
        var out: [AcceptedEvent] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            if sessions.count < 64 || next() % 20 == 0 {
                sessions.append(("s-\(String(next(), radix: 36))", "user-\(Int(next() % UInt64(userCount)) + 1)",
                                 3 + Int(next() % 12)))
            }
            let slot = Int(next() % UInt64(sessions.count))
            let session = sessions[slot]
            if session.left <= 1 { sessions.swapAt(slot, sessions.count - 1); sessions.removeLast() }
            else { sessions[slot].left -= 1 }
            // Zipf-like popularity: rank = n^u - 1 concentrates on low ranks.
            let rank = min(products.count - 1, Int(pow(Double(products.count), unit())) - 1)
            let roll = unit()
            let type: EventType = roll < 0.62 ? .view : roll < 0.80 ? .addToCart : roll < 0.88 ? .purchase
                : roll < 0.92 ? .removeFromCart : roll < 0.95 ? .wishlistAdd : .search
            let timestamp = start + produced
            lastTimestamp = timestamp
            let product = products[max(rank, 0)]
            let event = Event(eventID: "e-\(produced)", timestamp: timestamp, userID: session.user, type: type,
                              product: product, sessionID: session.id)
            let raw = Array(#"{"event_id":"e-\#(produced)","timestamp":"\#(ISO8601.format(timestamp))","user_id":"\#(session.user)","event_type":"\#(type.rawValue)","product":{"id":"\#(product.id)","name":"\#(product.name)","description":"\#(product.description)","category":"\#(product.category)","price":\#(product.price)},"session_id":"\#(session.id)"}"#.utf8)
            out.append(AcceptedEvent(event: event, raw: raw,
                                     position: SourcePosition(topic: "bench", partition: Int32(produced % 3),
                                                              offset: produced / 3),
                                     arrivalNanos: 0))
            produced += 1
        }
        return out
    }
}
