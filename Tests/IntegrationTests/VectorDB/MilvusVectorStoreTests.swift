import Foundation
import Testing
import VectorStreamCore
import VectorStreamGenerator
@testable import VectorStreamVectorDB

/// Against a real Milvus (2.3.5 from PyPI, started by scripts/services/milvus.sh; REST v1 is what it serves).
@Suite("Milvus vector store")
struct MilvusVectorStoreTests {
    typealias S = VectorDBTestSupport

    static func url() throws -> String {
        try TestServices.url("milvus", environmentVariable: "VECTORSTREAM_TEST_MILVUS_URL")
    }

    /// A store on a fresh collection; the caller drops it.
    static func makeStore(_ test: String) async throws -> MilvusVectorStore {
        let store = MilvusVectorStore(configuration: .init(url: try url(), collection: S.collectionName(test)))
        try await store.prepare()
        return store
    }

    /// Waits until the server shows `n` vectors (Bounded consistency on v1).
    static func waitForCount(_ store: MilvusVectorStore, _ n: Int) async throws {
        let reached = try await S.eventually { try await store.count() == n }
        let shown = try await store.count()
        #expect(reached, "count did not reach \(n); it is \(shown)")
    }

    @Test func probesTheRESTVersionTheServerSpeaks() async throws {
        let store = try await Self.makeStore("probe")
        // The Milvus installable here (2.3.5) has REST v1 only; a 2.4+ server would give v2.
        #expect(try await store.apiVersion() == .v1)
        #expect(await store.checkHealth() == .ok)
        #expect(try await store.count() == 0)
        try await store.dropCollection()
    }

    // Search, filters, replacement, model changes, concurrent writers and dimensions: VectorStoreSuite, shared
    // with the embedded index and the Qdrant stand-in.

    @Test func rejectsVectorsOfTheWrongDimension() async throws {
        let store = try await Self.makeStore("dimension")
        var v = S.products(count: 1, seed: 7, modelVersion: "m1")[0]
        v.vector = [1, 0, 0]
        await #expect(throws: VectorDatabaseError.self) { try await store.upsert([v]) }
        await #expect(throws: VectorDatabaseError.self) {
            try await store.search([1, 0], k: 3, filter: SearchFilter(), modelVersion: "m1")
        }
        // An existing collection of another dimension is refused rather than written into.
        let other = MilvusVectorStore(configuration: .init(url: try Self.url(), collection: store.configuration.collection,
                                                           dimension: 8))
        await #expect(throws: VectorDatabaseError.self) { try await other.prepare() }
        try await store.dropCollection()
    }

    @Test func unreachableServerIsReportedDown() async throws {
        let store = MilvusVectorStore(configuration: .init(url: "http://127.0.0.1:1", token: "secret-token",
                                                           requestTimeout: .seconds(2)))
        let health = await store.checkHealth()
        guard case .down(let reason) = health else {
            Issue.record("expected down, got \(health)")
            return
        }
        #expect(!reason.contains("secret-token"))
    }
}

/// RELIABILITY.md finding 4: two workers, one after the other, upsert one product (the product's claim passed
/// from a killed worker to the survivor, or was released after a price change). Each worker has its own store
/// (its own process); the second upserts before Milvus's Bounded-consistency reads see the first's row.
@Suite("Milvus upserts from two workers")
struct MilvusTwoWriterTests {
    typealias S = VectorDBTestSupport

    @Test("a product upserted by two stores in quick succession has one row")
    func secondWriterReplacesTheFirstsFreshRow() async throws {
        let first = try await MilvusVectorStoreTests.makeStore("two_writers")
        let second = MilvusVectorStore(configuration: .init(url: try MilvusVectorStoreTests.url(),
                                                            collection: first.configuration.collection))
        try await second.prepare()
        let products = S.products(count: 20, seed: 11, modelVersion: "m1")
        for product in products {
            try await first.upsert([product])
            var changed = product
            changed.price += 1
            try await second.upsert([changed])
        }
        // Both rows would be visible within a few seconds; wait past Milvus's staleness bound, then count.
        try await Task.sleep(for: .seconds(4))
        try await MilvusVectorStoreTests.waitForCount(first, products.count)
        try await first.dropCollection()
    }
}
