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
            // Sentences end with ". " (a "5.3" inside one does not end it).
            let sentences = p.description.split(separator: ". ").count
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

    /// Words of a name, hyphenated ones split too ("Slim-Fit" is "slim", "fit"), without punctuation.
    static func words(_ name: String) -> [String] {
        name.lowercased().split(whereSeparator: { $0 == " " || $0 == "-" })
            .map { $0.filter { $0.isLetter || $0.isNumber } }.filter { !$0.isEmpty }
    }

    @Test func namesNeverRepeatAWordAndPricesFitTheProduct() {
        for seed: UInt64 in [1, 42, 7_777] {
            let catalog = EventGenerator(configuration: GeneratorConfiguration(seed: seed, productCount: 3_000)).catalog
            for product in catalog {
                let words = Self.words(product.name)
                #expect(Set(words).count == words.count, "\(product.name) repeats a word")
                // What the issue saw: a $7 office chair, an $11 waterproof tent, an orthopedic dog food.
                if product.name.hasSuffix("Office Chair") { #expect(product.price >= 80, "\(product.name) at \(product.price)") }
                if product.name.hasSuffix("Tent") { #expect(product.price >= 50, "\(product.name) at \(product.price)") }
                if product.name.hasSuffix("Ring") && product.category == "Jewelry" { #expect(product.price >= 30) }
                #expect(!product.name.hasSuffix("Orthopedic Dog Food"))
            }
        }
    }

    @Test func adjectivesFitTheNoun() throws {
        for seed: UInt64 in [1, 42] {
            let catalog = EventGenerator(configuration: GeneratorConfiguration(seed: seed, productCount: 3_000)).catalog
            for product in catalog {
                let kind = try #require(EventGenerator.kind(of: product), "\(product.name): no kind in \(product.category)")
                // "Brand Adjective Noun", with an adjective of this kind.
                let adjective = product.name.dropLast(kind.noun.count + 1).split(separator: " ", maxSplits: 1).last.map(String.init)
                #expect(adjective.map { kind.adjectives.contains($0) } == true, "\(product.name): adjective does not fit")
                #expect(!product.description.contains(" \(kind.noun.lowercased()) \(kind.noun.lowercased())"))
            }
        }
        // The names the issue found, and their like, cannot be made.
        for kind in EventGenerator.productKinds {
            let nounWords = Set(Self.words(kind.noun))
            for adjective in kind.adjectives {
                #expect(nounWords.isDisjoint(with: Self.words(adjective)), "\(adjective) \(kind.noun)")
            }
        }
        let dogFood = try #require(EventGenerator.productKinds.first { $0.noun == "Dog Food" })
        #expect(!dogFood.adjectives.contains("Orthopedic"))
    }

    @Test func eachKindsPricesFallInItsBand() throws {
        let kinds = EventGenerator.productKinds
        #expect(kinds.count >= 100)
        for kind in kinds {
            #expect(kind.priceRange.lowerBound > 0 && kind.priceRange.upperBound <= 10_000, "\(kind.noun)")
            #expect(Set(kind.adjectives).count == kind.adjectives.count && kind.adjectives.count >= 3, "\(kind.noun)")
        }
        // Bands a shopper would believe.
        func band(_ noun: String) throws -> ClosedRange<Double> {
            try #require(kinds.first { $0.noun == noun }).priceRange
        }
        #expect(try band("Ergonomic Office Chair").lowerBound >= 80)
        #expect(try band("Camping Tent").lowerBound >= 50)
        #expect(try band("Engagement Ring").lowerBound >= 300)
        #expect(try band("Dark Chocolate Bar").upperBound <= 20)
        #expect(try band("Notebook").upperBound <= 50)

        let catalog = EventGenerator(configuration: GeneratorConfiguration(seed: 3, productCount: 5_000)).catalog
        var seen = Set<String>()
        for product in catalog {
            let kind = try #require(EventGenerator.kind(of: product))
            seen.insert(kind.category + "/" + kind.noun)
            #expect(kind.priceRange.contains(product.price), "\(product.name) at \(product.price)")
        }
        #expect(seen.count == kinds.count, "every kind appears in a large catalog")
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
