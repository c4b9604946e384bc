import Foundation
import Testing
import VectorStreamCore
import VectorStreamEmbedded

@Suite("Embedded vector index")
struct VectorIndexTests {
    func vector(_ seed: Int) -> [Float] { CountingHashEmbedder.vector("product-\(seed)") }

    func record(_ i: Int, category: String = "A", price: Double = 10, version: String = "m1") -> ProductVector {
        ProductVector(productID: "p\(i)", vector: vector(i), name: "P\(i)", category: category, price: price,
                      modelVersion: version, contentHash: "h\(i)", updatedAt: 0)
    }

    @Test func findsExactNearestNeighboursAndPersists() async throws {
        let dir = temporaryDirectory()
        let db = try EmbeddedDatabase(directory: dir)
        let index = try EmbeddedVectorIndex(database: db)
        try await index.upsert((0..<2_000).map { record($0, category: $0 % 2 == 0 ? "A" : "B", price: Double($0 % 100)) })
        let query = vector(1234)
        let hits = try await index.search(query, k: 10, filter: SearchFilter(), modelVersion: "m1")
        #expect(hits.first?.productID == "p1234")
        #expect(abs((hits.first?.score ?? 0) - 1) < 1e-4)
        // Brute force agrees on the top 10.
        let exact = (0..<2_000).map { i in (i, zip(query, vector(i)).map(*).reduce(0, +)) }.sorted { $0.1 > $1.1 }.prefix(10)
        #expect(hits.map(\.productID) == exact.map { "p\($0.0)" })

        let filtered = try await index.search(query, k: 10, filter: SearchFilter(category: "A", minPrice: 20, maxPrice: 30,
                                                                                 excludedProductIDs: ["p1234"]), modelVersion: "m1")
        #expect(!filtered.isEmpty)
        #expect(filtered.allSatisfy { $0.category == "A" && (20...30).contains($0.price) && $0.productID != "p1234" })

        // Reopened from disk: same answers.
        let reopened = try EmbeddedVectorIndex(database: try EmbeddedDatabase(directory: dir))
        #expect(try await reopened.count() == 2_000)
        #expect(try await reopened.search(query, k: 10, filter: SearchFilter(), modelVersion: "m1").map(\.productID)
                == hits.map(\.productID))
    }

    @Test func upsertReplacesByProductID() async throws {
        let index = try EmbeddedVectorIndex(database: try EmbeddedDatabase(directory: temporaryDirectory()))
        try await index.upsert([record(1), record(2)])
        var moved = record(1, category: "Z", price: 99, version: "m2")
        moved.vector = vector(2)
        try await index.upsert([moved])
        #expect(try await index.count() == 2)
        let stored = try await index.vector(forProduct: "p1")
        #expect(stored?.category == "Z" && stored?.modelVersion == "m2")
        #expect(try await index.contentHashes(forProducts: ["p1", "p2", "p3"]).count == 2)
        await #expect(throws: (any Error).self) {
            try await index.upsert([ProductVector(productID: "bad", vector: [1, 2], name: "", category: "", price: 0,
                                                  modelVersion: "m1", contentHash: "", updatedAt: 0)])
        }
    }
}
