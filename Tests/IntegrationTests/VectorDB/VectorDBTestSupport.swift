import Foundation
import VectorStreamCore
import VectorStreamGenerator

/// Shared by the vector database tests: deterministic vectors, products and a poll for eventually consistent reads.
enum VectorDBTestSupport {
    static let dimension = 384

    /// A unique collection name per test, so tests run in parallel against one server.
    static func collectionName(_ test: String) -> String {
        "t_\(test)_\(UInt32.random(in: 0...UInt32.max))"
    }

    static func unitVector(_ rng: inout SeededRandom, dimension: Int = dimension) -> [Float] {
        var v = (0..<dimension).map { _ in Float(rng.unit() * 2 - 1) }
        let norm = sqrt(v.reduce(0) { $0 + $1 * $1 })
        for i in v.indices { v[i] /= norm }
        return v
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// `count` products over `categories`, prices 5, 10, 15, ... cycling, random unit vectors.
    static func products(count: Int, seed: UInt64, modelVersion: String, categories: [String] = ["books", "toys", "garden"],
                         idPrefix: String = "p") -> [ProductVector] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { i in
            ProductVector(productID: "\(idPrefix)\(i)", vector: unitVector(&rng), name: "Product \(i)",
                          category: categories[i % categories.count], price: Double(5 * (1 + i % 20)),
                          modelVersion: modelVersion, contentHash: "hash-\(modelVersion)-\(i)", updatedAt: 1_000 + Int64(i))
        }
    }

    /// The exact top-k by inner product among `vectors` passing `filter`: what an exact search returns.
    static func bruteForce(_ query: [Float], k: Int, in vectors: [ProductVector], filter: SearchFilter) -> [String] {
        vectors.filter { filter.matches(category: $0.category, price: $0.price) && !filter.excludedProductIDs.contains($0.productID) }
            .map { ($0.productID, dot(query, $0.vector)) }
            .sorted { $0.1 > $1.1 }
            .prefix(k).map(\.0)
    }

    /// Polls `condition` until it holds: Milvus 2.3's REST reads are Bounded-consistent and see a write
    /// about a second after it returns. Gives up after `seconds` and returns false.
    static func eventually(seconds: Double = 30, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while true {
            if try await condition() { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
