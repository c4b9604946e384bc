import Testing
import VectorStreamCore
import VectorStreamGenerator

@Suite("Event generator")
struct GeneratorTests {
    @Test func sameSeedSameOutput() {
        var a = EventGenerator(configuration: GeneratorConfiguration(seed: 9, productCount: 100)).makeStream()
        var b = EventGenerator(configuration: GeneratorConfiguration(seed: 9, productCount: 100)).makeStream()
        var c = EventGenerator(configuration: GeneratorConfiguration(seed: 10, productCount: 100)).makeStream()
        var differs = false
        for _ in 0..<1_000 {
            let x = a.next().bytes
            #expect(x == b.next().bytes)
            if x != c.next().bytes { differs = true }
        }
        #expect(differs)
    }

    @Test func catalogIsRealistic() {
        let generator = EventGenerator(configuration: GeneratorConfiguration(seed: 1, productCount: 2_000))
        let catalog = generator.catalog
        #expect(catalog.count == 2_000)
        #expect(Set(catalog.map(\.id)).count == 2_000)
        #expect(Set(catalog.map(\.category)).count >= 12)
        for p in catalog {
            let sentences = p.description.split(separator: ".").count
            #expect((1...3).contains(sentences), "\(p.description)")
            #expect(p.price > 0)
        }
        // Category-typical prices: jewelry costs more than groceries on average.
        func mean(_ c: String) -> Double {
            let prices = catalog.filter { $0.category == c }.map(\.price)
            return prices.reduce(0, +) / Double(prices.count)
        }
        #expect(mean("Jewelry") > 3 * mean("Grocery"))
    }

    @Test func funnelAndPopularityHaveTheRightShape() {
        var stream = EventGenerator(configuration: GeneratorConfiguration(seed: 5, productCount: 1_000)).makeStream()
        var byType: [EventType: Int] = [:]
        var views: [String: Int] = [:]
        var lastTimestamp: EpochMillis = .min
        for _ in 0..<50_000 {
            let e = stream.next().event!
            byType[e.type, default: 0] += 1
            if e.type == .view { views[e.product.id, default: 0] += 1 }
            #expect(e.timestamp >= lastTimestamp)
            lastTimestamp = e.timestamp
        }
        let v = byType[.view] ?? 0, c = byType[.addToCart] ?? 0, p = byType[.purchase] ?? 0
        #expect(v > 2 * c)
        #expect(c > p)
        #expect(p > 0)
        #expect(Set(byType.keys) == Set(EventType.allCases))
        // Zipf: the top 10% of products take far more than 10% of views.
        let sorted = views.values.sorted(by: >)
        let top = sorted.prefix(100).reduce(0, +)
        #expect(Double(top) / Double(sorted.reduce(0, +)) > 0.4)
    }

    @Test func tokenBucketPacesWithoutSleepingPerEvent() {
        var bucket = TokenBucket(ratePerSecond: 1_000, burst: 100, now: 0)
        #expect(bucket.take(500, now: 0).granted == 100)
        let empty = bucket.take(10, now: 0)
        #expect(empty.granted == 0 && empty.waitNanos > 0)
        #expect(bucket.take(500, now: 50_000_000).granted == 50)
        #expect(bucket.take(500, now: 10_000_000_000).granted == 100)
    }
}
