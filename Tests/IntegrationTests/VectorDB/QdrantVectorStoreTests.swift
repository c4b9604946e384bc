import Foundation
import Testing
import VectorStreamCore
import VectorStreamGenerator
@testable import VectorStreamVectorDB

/// Against a real Qdrant. None can be installed on this machine: these run only when
/// `VECTORSTREAM_QDRANT_URL` is set (e.g. `http://127.0.0.1:6333`) and are reported as skipped otherwise.
@Suite("Qdrant vector store (needs VECTORSTREAM_QDRANT_URL)")
struct QdrantVectorStoreTests {
    typealias S = VectorDBTestSupport
    static let url = ProcessInfo.processInfo.environment["VECTORSTREAM_QDRANT_URL"]

    static func makeStore(_ test: String) async throws -> QdrantVectorStore {
        let store = QdrantVectorStore(configuration: .init(
            url: try #require(url), apiKey: ProcessInfo.processInfo.environment["VECTORSTREAM_QDRANT_API_KEY"],
            collection: S.collectionName(test)))
        try await store.prepare()
        return store
    }

    @Test(.enabled(if: url != nil, "set VECTORSTREAM_QDRANT_URL to run against a Qdrant server"))
    func upsertThenFilteredSearch() async throws {
        let store = try await Self.makeStore("qfiltered")
        #expect(await store.checkHealth() == .ok)
        let vectors = S.products(count: 120, seed: 2, modelVersion: "m1")
        try await store.upsert(vectors)
        #expect(try await store.count() == 120)  // wait=true: applied when upsert returns
        var rng = SeededRandom(seed: 99)
        let query = S.unitVector(&rng)
        let filter = SearchFilter(category: "toys", minPrice: 20, maxPrice: 60, excludedProductIDs: ["p1", "p4"])
        let hits = try await store.search(query, k: 10, filter: filter, modelVersion: "m1")
        #expect(!hits.isEmpty)
        for hit in hits {
            #expect(hit.category == "toys" && hit.price >= 20 && hit.price <= 60)
            #expect(!filter.excludedProductIDs.contains(hit.productID))
        }
        #expect(hits.map(\.productID) == S.bruteForce(query, k: 10, in: vectors, filter: filter))
        let first = try #require(try await store.search(vectors[0].vector, k: 1, filter: SearchFilter(), modelVersion: "m1").first)
        #expect(first.productID == "p0" && abs(first.score - 1) < 1e-3)
        try await store.dropCollection()
    }

    @Test(.enabled(if: url != nil, "set VECTORSTREAM_QDRANT_URL to run against a Qdrant server"))
    func modelVersionChangeReplacesVectors() async throws {
        let store = try await Self.makeStore("qmodel")
        let old = S.products(count: 30, seed: 5, modelVersion: "model-A")
        try await store.upsert(old)
        #expect(try await store.productIDs(notOfModelVersion: "model-B").count == 30)
        let new = S.products(count: 30, seed: 6, modelVersion: "model-B")
        try await store.upsert(new)
        #expect(try await store.count() == 30)
        #expect(try await store.productIDs(notOfModelVersion: "model-B").isEmpty)
        #expect(try await store.search(old[0].vector, k: 5, filter: SearchFilter(), modelVersion: "model-A").isEmpty)
        let hits = try await store.search(new[3].vector, k: 5, filter: SearchFilter(), modelVersion: "model-B")
        #expect(hits.first?.productID == "p3")
        let stored = try #require(try await store.vector(forProduct: "p3"))
        #expect(stored.modelVersion == "model-B" && stored.contentHash == "hash-model-B-3")
        let hashes = try await store.contentHashes(forProducts: ["p3", "absent"])
        #expect(hashes.count == 1 && hashes["p3"]?.modelVersion == "model-B")
        try await store.dropCollection()
    }
}
