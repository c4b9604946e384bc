import VectorStreamCore

/// Upsert throughput and search latency of any `VectorStore`, on deterministic random unit vectors.
///
/// Lives here rather than in the CLI so that every store (Milvus, Qdrant, the embedded index) is measured by
/// the same code. Writes are sequential batches, as the pipeline writes them; searches are sequential, so
/// the latencies are those of one caller on an otherwise idle store.
public struct VectorStoreBenchmark: Sendable {
    public struct Options: Sendable {
        public var products = 100_000
        public var batchSize = 1_000
        public var queries = 1_000
        public var k = 10
        public var dimension = 384
        public var seed: UInt64 = 42
        public var categories = 14
        public var modelVersion = "bench-v1"

        public init() {}
    }

    public struct Result: Sendable, CustomStringConvertible {
        public var store: String
        public var products: Int
        public var upsertSeconds: Double
        /// Until `count()` shows every vector (Milvus REST v1 reads lag writes); equals upsertSeconds elsewhere.
        public var visibleSeconds: Double
        public var searchMillis: [Double]
        public var filteredSearchMillis: [Double]
        public var recallAt1: Double

        public var upsertPerSecond: Double { Double(products) / max(upsertSeconds, 1e-9) }

        public static func percentile(_ sorted: [Double], _ p: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
            return sorted[min(max(rank, 0), sorted.count - 1)]
        }

        public var description: String {
            let s = searchMillis.sorted(), f = filteredSearchMillis.sorted()
            func ms(_ v: Double) -> String { String(Double(Int(v * 100)) / 100) }
            return """
                \(store): \(products) vectors upserted in \(ms(upsertSeconds))s = \(Int(upsertPerSecond)) vectors/s \
                (all visible after \(ms(visibleSeconds))s)
                  search k=10:          p50 \(ms(Self.percentile(s, 50))) ms, p99 \(ms(Self.percentile(s, 99))) ms \
                (\(s.count) queries)
                  search by category:   p50 \(ms(Self.percentile(f, 50))) ms, p99 \(ms(Self.percentile(f, 99))) ms \
                (\(f.count) queries)
                  self-recall@1: \(ms(recallAt1 * 100))%
                """
        }
    }

    public var options: Options
    public init(options: Options) { self.options = options }

    /// Unit vector number `i` of the data set (or of the queries, with another seed); cheap and reproducible.
    static func unitVector(seed: UInt64, index: Int, dimension: Int) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xD1B5_4A32_D192_ED03
        var v = [Float](repeating: 0, count: dimension)
        var norm: Float = 0
        for d in 0..<dimension {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let x = Float(Double(z >> 11) * 0x1.0p-53 * 2 - 1)
            v[d] = x
            norm += x * x
        }
        let scale = 1 / norm.squareRoot()
        for d in 0..<dimension { v[d] *= scale }
        return v
    }

    func product(_ i: Int) -> ProductVector {
        ProductVector(productID: "bench-\(i)", vector: Self.unitVector(seed: options.seed, index: i, dimension: options.dimension),
                      name: "Bench product \(i)", category: "category-\(i % options.categories)",
                      price: Double(1 + (i * 7919) % 500), modelVersion: options.modelVersion,
                      contentHash: "h\(i)", updatedAt: 1_767_225_600_000 + Int64(i))
    }

    /// Runs the benchmark; `progress` receives a line now and then.
    public func run(store: any VectorStore, name: String, progress: @Sendable (String) -> Void = { _ in }) async throws -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        var nextReport = options.products / 10
        for batchStart in stride(from: 0, to: options.products, by: options.batchSize) {
            let batch = (batchStart..<min(options.products, batchStart + options.batchSize)).map(product)
            try await store.upsert(batch)
            if batchStart + batch.count >= nextReport {
                progress("\(name): \(batchStart + batch.count) upserted, \(Int(Double(batchStart + batch.count) / (clock.now - start).seconds)) vectors/s")
                nextReport += options.products / 10
            }
        }
        let upserted = clock.now - start
        while try await store.count() < options.products {
            guard clock.now - start < upserted + .seconds(600) else {
                throw VectorDatabaseError(.server, "\(name): only \(try await store.count()) of \(options.products) vectors visible")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let visible = clock.now - start

        // Warm-up, not measured: first searches load index files and open connections.
        for i in 0..<min(20, options.queries) {
            _ = try await store.search(Self.unitVector(seed: options.seed &+ 1, index: i, dimension: options.dimension),
                                       k: options.k, filter: SearchFilter(), modelVersion: options.modelVersion)
        }
        var plain = [Double](), filtered = [Double]()
        var found = 0
        for i in 0..<options.queries {
            // Half of the queries are stored vectors (recall check), half fresh random ones.
            let known = i % 2 == 0
            let target = (i * 104_729) % options.products
            let query = known ? product(target).vector
                : Self.unitVector(seed: options.seed &+ 1, index: i, dimension: options.dimension)
            let t0 = clock.now
            let hits = try await store.search(query, k: options.k, filter: SearchFilter(), modelVersion: options.modelVersion)
            plain.append((clock.now - t0).milliseconds)
            if known, hits.first?.productID == "bench-\(target)" { found += 1 }

            let t1 = clock.now
            _ = try await store.search(query, k: options.k,
                                       filter: SearchFilter(category: "category-\(i % options.categories)"),
                                       modelVersion: options.modelVersion)
            filtered.append((clock.now - t1).milliseconds)
        }
        return Result(store: name, products: options.products, upsertSeconds: upserted.seconds,
                      visibleSeconds: visible.seconds, searchMillis: plain, filteredSearchMillis: filtered,
                      recallAt1: Double(found) / Double(max(1, (options.queries + 1) / 2)))
    }
}

extension Duration {
    fileprivate var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
    fileprivate var milliseconds: Double { seconds * 1000 }
}
