import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamGenerator
@testable import VectorStreamVectorDB

/// The vector stores under one contract: the same tests against the embedded index, a real Milvus, the Qdrant
/// stand-in that holds every request to Qdrant's 1.19 OpenAPI document, and a real Qdrant when
/// `VECTORSTREAM_QDRANT_URL` is set.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case embedded
    case milvus
    case qdrantStandIn = "qdrant-standin"
    case qdrant

    var testDescription: String { rawValue }
}

/// A store on a fresh collection with what the shared tests need beside the `VectorStore` protocol.
struct StoreUnderTest: Sendable {
    let kind: StoreKind
    let store: any VectorStore
    let collection: String
    /// Products whose stored vector is of another model version.
    let staleIDs: @Sendable (String) async throws -> [String]
    let drop: @Sendable () async throws -> Void
    /// Milvus 2.3 reads are Bounded-consistent; the others see a write when it returns.
    var eventuallyConsistent: Bool { kind == .milvus }

    static let qdrantURL = ProcessInfo.processInfo.environment["VECTORSTREAM_QDRANT_URL"]

    static func make(_ kind: StoreKind, _ test: String) async throws -> StoreUnderTest {
        let collection = VectorDBTestSupport.collectionName(test)
        switch kind {
        case .embedded:
            let directory = NSTemporaryDirectory() + "vectorstream-store-\(UUID().uuidString.prefix(8))"
            let index = try EmbeddedVectorIndex(database: try EmbeddedDatabase(directory: directory))
            return StoreUnderTest(kind: kind, store: index, collection: collection,
                                  staleIDs: { index.staleProducts(modelVersion: $0).sorted() },
                                  drop: { try? FileManager.default.removeItem(atPath: directory) })
        case .milvus:
            let url = try TestServices.url("milvus", environmentVariable: "VECTORSTREAM_TEST_MILVUS_URL")
            let store = MilvusVectorStore(configuration: .init(url: url, collection: collection))
            try await store.prepare()
            return StoreUnderTest(kind: kind, store: store, collection: collection,
                                  staleIDs: { try await store.productIDs(notOfModelVersion: $0) },
                                  drop: { try await store.dropCollection() })
        case .qdrantStandIn, .qdrant:
            let url = kind == .qdrant
                ? try #require(qdrantURL)
                : try TestServices.url("qdrant-standin", environmentVariable: "VECTORSTREAM_TEST_QDRANT_STANDIN_URL")
            let store = QdrantVectorStore(configuration: .init(
                url: url, apiKey: kind == .qdrant ? ProcessInfo.processInfo.environment["VECTORSTREAM_QDRANT_API_KEY"] : nil,
                collection: collection))
            try await store.prepare()
            return StoreUnderTest(kind: kind, store: store, collection: collection,
                                  staleIDs: { try await store.productIDs(notOfModelVersion: $0) },
                                  drop: { try await store.dropCollection() })
        }
    }

    /// Waits until the store shows `n` vectors (at once, except on Milvus).
    func waitForCount(_ n: Int) async throws {
        let reached = try await VectorDBTestSupport.eventually(seconds: eventuallyConsistent ? 30 : 0) {
            try await store.count() == n
        }
        let shown = try await store.count()
        #expect(reached, "count did not reach \(n); it is \(shown)")
    }

    /// Drops the collection and, on the stand-in, fails the test for every request of it the document refused.
    func finish() async throws {
        try await drop()
        if kind == .qdrantStandIn {
            let violations = QdrantStandIn.violations(collection: collection)
            #expect(violations.isEmpty, "requests outside Qdrant's OpenAPI document: \(violations)")
        }
    }
}

enum QdrantStandIn {
    static let violationsFile = TestServices.repoRoot.appendingPathComponent(".run/qdrant-standin/violations.jsonl").path

    /// The stand-in's contract violations recorded for `collection`.
    static func violations(collection: String) -> [String] {
        guard let text = try? String(contentsOfFile: violationsFile, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let data = line.data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  object["collection"] as? String == collection
            else { return nil }
            return "\(object["method"] ?? "") \(object["path"] ?? ""): \(object["violation"] ?? "")"
        }
    }
}

/// The shared tests, each a function of the store; run by `VectorStoreSuite` and `RealQdrantVectorStoreSuite`.
enum VectorStoreContract {
    typealias S = VectorDBTestSupport

    static func upsertThenSearchFindsEachProductFirst(_ kind: StoreKind) async throws {
        let t = try await StoreUnderTest.make(kind, "nearest")
        let vectors = S.products(count: 60, seed: 1, modelVersion: "m1")
        try await t.store.upsert(vectors)
        try await t.waitForCount(60)
        for v in vectors.prefix(10) {
            let hits = try await t.store.search(v.vector, k: 5, filter: SearchFilter(), modelVersion: "m1")
            #expect(hits.first?.productID == v.productID)
            #expect(abs((hits.first?.score ?? 0) - 1) < 1e-3)
            #expect(hits.first?.name == v.name && hits.first?.category == v.category && hits.first?.price == v.price)
            #expect(hits.map(\.productID) == S.bruteForce(v.vector, k: 5, in: vectors, filter: SearchFilter()))
        }
        try await t.finish()
    }

    static func filteredSearchKeepsCategoryPriceRangeAndExclusions(_ kind: StoreKind) async throws {
        let t = try await StoreUnderTest.make(kind, "filtered")
        let vectors = S.products(count: 120, seed: 2, modelVersion: "m1")
        try await t.store.upsert(vectors)
        try await t.waitForCount(120)
        var rng = SeededRandom(seed: 99)
        let query = S.unitVector(&rng)
        let excluded: Set<String> = Set(S.bruteForce(query, k: 2, in: vectors,
                                                     filter: SearchFilter(category: "toys", minPrice: 20, maxPrice: 60)))
        let filter = SearchFilter(category: "toys", minPrice: 20, maxPrice: 60, excludedProductIDs: excluded)
        let hits = try await t.store.search(query, k: 10, filter: filter, modelVersion: "m1")
        #expect(!hits.isEmpty)
        for hit in hits {
            #expect(hit.category == "toys")
            #expect(hit.price >= 20 && hit.price <= 60)
            #expect(!excluded.contains(hit.productID))
        }
        // Few rows: every store searches them exactly, so the answer is the exact filtered top 10.
        #expect(hits.map(\.productID) == S.bruteForce(query, k: 10, in: vectors, filter: filter))
        #expect(try await t.store.search(query, k: 10, filter: SearchFilter(category: "no-such"), modelVersion: "m1").isEmpty)
        // Another model version's query finds nothing of this one.
        #expect(try await t.store.search(query, k: 10, filter: SearchFilter(), modelVersion: "m0").isEmpty)
        try await t.finish()
    }

    static func upsertReplacesAProductInsteadOfAddingOne(_ kind: StoreKind) async throws {
        let t = try await StoreUnderTest.make(kind, "replace")
        var first = S.products(count: 1, seed: 3, modelVersion: "m1")[0]
        try await t.store.upsert([first])
        // Immediately again, before an eventually consistent server shows the first row: still a replacement.
        var rng = SeededRandom(seed: 4)
        first.vector = S.unitVector(&rng)
        first.price = 77
        first.contentHash = "hash-second"
        first.updatedAt += 1
        try await t.store.upsert([first])
        try await t.waitForCount(1)
        if t.eventuallyConsistent { try await Task.sleep(for: .seconds(2)) }  // a lagging duplicate would show by now
        #expect(try await t.store.count() == 1)
        let stored = try #require(try await t.store.vector(forProduct: first.productID))
        #expect(stored.price == 77 && stored.contentHash == "hash-second")
        #expect(zip(stored.vector, first.vector).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(try await t.store.vector(forProduct: "absent") == nil)
        let hashes = try await t.store.contentHashes(forProducts: [first.productID, "absent"])
        #expect(hashes.count == 1)
        #expect(hashes[first.productID]?.contentHash == "hash-second")
        #expect(hashes[first.productID]?.modelVersion == "m1")
        try await t.finish()
    }

    /// A model change: vectors of version A are found stale, re-embedded as B, and B queries never see A.
    static func modelVersionChangeReembedsWithoutMixingVectors(_ kind: StoreKind) async throws {
        let t = try await StoreUnderTest.make(kind, "modelchange")
        let old = S.products(count: 40, seed: 5, modelVersion: "model-A")
        try await t.store.upsert(old)
        try await t.waitForCount(40)
        let ids = old.map(\.productID)
        let known = try await t.store.contentHashes(forProducts: ids)
        #expect(ids.filter { known[$0]?.modelVersion != "model-B" }.count == 40)
        #expect(try await t.staleIDs("model-B") == ids.sorted())

        let new = S.products(count: 40, seed: 6, modelVersion: "model-B")
        try await t.store.upsert(new)
        let settled = try await S.eventually(seconds: t.eventuallyConsistent ? 30 : 0) {
            let count = try await t.store.count()
            let stale = try await t.staleIDs("model-B")
            return count == 40 && stale.isEmpty
        }
        #expect(settled)
        // Every vector of model B is found (Milvus may briefly miss a segment in hand-off: polled there).
        let searchable = try await S.eventually(seconds: t.eventuallyConsistent ? 30 : 0) {
            for v in new.prefix(8) {
                let hits = try await t.store.search(v.vector, k: 10, filter: SearchFilter(), modelVersion: "model-B")
                if hits.map(\.productID) != S.bruteForce(v.vector, k: 10, in: new, filter: SearchFilter()) { return false }
            }
            return try await t.store.count() == 40
        }
        #expect(searchable, "model B's vectors not all found")
        #expect(try await t.store.search(old[0].vector, k: 10, filter: SearchFilter(), modelVersion: "model-A").isEmpty)
        let hashes = try await t.store.contentHashes(forProducts: ids)
        #expect(hashes.values.allSatisfy { $0.modelVersion == "model-B" })
        #expect(hashes["p3"]?.contentHash == "hash-model-B-3")
        try await t.finish()
    }

    /// Two writers upserting overlapping products at once: one vector per product, the last write's payload.
    static func concurrentWritersLeaveOneVectorPerProduct(_ kind: StoreKind) async throws {
        let t = try await StoreUnderTest.make(kind, "concurrent")
        let a = S.products(count: 80, seed: 8, modelVersion: "m1")
        var b = S.products(count: 80, seed: 9, modelVersion: "m1")
        for i in b.indices { b[i].productID = "p\(i + 40)"; b[i].contentHash = "hash-b-\(i + 40)" }  // p40...p119
        async let writeA: Void = t.store.upsert(a)
        async let writeB: Void = t.store.upsert(b)
        _ = try await (writeA, writeB)
        try await t.waitForCount(120)
        let hashes = try await t.store.contentHashes(forProducts: (0..<120).map { "p\($0)" })
        #expect(hashes.count == 120)
        for i in 40..<80 {
            let h = hashes["p\(i)"]?.contentHash
            #expect(h == "hash-m1-\(i)" || h == "hash-b-\(i)", "p\(i) holds one of the two writes, got \(h ?? "nil")")
        }
        try await t.finish()
    }

    static func rejectsVectorsOfTheWrongDimension(_ kind: StoreKind) async throws {
        let t = try await StoreUnderTest.make(kind, "dimension")
        var v = S.products(count: 1, seed: 7, modelVersion: "m1")[0]
        v.vector = [1, 0, 0]
        await #expect(throws: (any Error).self) { try await t.store.upsert([v]) }
        await #expect(throws: (any Error).self) {
            try await t.store.search([1, 0], k: 3, filter: SearchFilter(), modelVersion: "m1")
        }
        #expect(try await t.store.count() == 0)
        try await t.finish()
    }
}

@Suite("Vector stores under one contract: embedded, Milvus, Qdrant stand-in (Qdrant's 1.19 OpenAPI document)")
struct VectorStoreSuite {
    static let kinds: [StoreKind] = [.embedded, .milvus, .qdrantStandIn]

    @Test(arguments: kinds) func upsertThenSearchFindsEachProductFirst(_ kind: StoreKind) async throws {
        try await VectorStoreContract.upsertThenSearchFindsEachProductFirst(kind)
    }

    @Test(arguments: kinds) func filteredSearchKeepsCategoryPriceRangeAndExclusions(_ kind: StoreKind) async throws {
        try await VectorStoreContract.filteredSearchKeepsCategoryPriceRangeAndExclusions(kind)
    }

    @Test(arguments: kinds) func upsertReplacesAProductInsteadOfAddingOne(_ kind: StoreKind) async throws {
        try await VectorStoreContract.upsertReplacesAProductInsteadOfAddingOne(kind)
    }

    @Test(arguments: kinds) func modelVersionChangeReembedsWithoutMixingVectors(_ kind: StoreKind) async throws {
        try await VectorStoreContract.modelVersionChangeReembedsWithoutMixingVectors(kind)
    }

    @Test(arguments: kinds) func concurrentWritersLeaveOneVectorPerProduct(_ kind: StoreKind) async throws {
        try await VectorStoreContract.concurrentWritersLeaveOneVectorPerProduct(kind)
    }

    @Test(arguments: kinds) func rejectsVectorsOfTheWrongDimension(_ kind: StoreKind) async throws {
        try await VectorStoreContract.rejectsVectorsOfTheWrongDimension(kind)
    }
}

/// The same tests against a real Qdrant; none can be installed here, so they are skipped by name unless
/// `VECTORSTREAM_QDRANT_URL` is set (e.g. `http://127.0.0.1:6333`).
@Suite("Vector store contract on a real Qdrant (needs VECTORSTREAM_QDRANT_URL)",
       .enabled(if: StoreUnderTest.qdrantURL != nil, "set VECTORSTREAM_QDRANT_URL to run against a Qdrant server"))
struct RealQdrantVectorStoreSuite {
    @Test func upsertThenSearchFindsEachProductFirst() async throws {
        try await VectorStoreContract.upsertThenSearchFindsEachProductFirst(.qdrant)
    }

    @Test func filteredSearchKeepsCategoryPriceRangeAndExclusions() async throws {
        try await VectorStoreContract.filteredSearchKeepsCategoryPriceRangeAndExclusions(.qdrant)
    }

    @Test func upsertReplacesAProductInsteadOfAddingOne() async throws {
        try await VectorStoreContract.upsertReplacesAProductInsteadOfAddingOne(.qdrant)
    }

    @Test func modelVersionChangeReembedsWithoutMixingVectors() async throws {
        try await VectorStoreContract.modelVersionChangeReembedsWithoutMixingVectors(.qdrant)
    }

    @Test func concurrentWritersLeaveOneVectorPerProduct() async throws {
        try await VectorStoreContract.concurrentWritersLeaveOneVectorPerProduct(.qdrant)
    }

    @Test func rejectsVectorsOfTheWrongDimension() async throws {
        try await VectorStoreContract.rejectsVectorsOfTheWrongDimension(.qdrant)
    }
}

/// The stand-in itself: what Qdrant 1.19's document does not allow is refused with the schema path that
/// refused it, so a store that sends such a request fails its tests.
@Suite("Qdrant stand-in holds requests to the 1.19 OpenAPI document")
struct QdrantStandInTests {
    func send(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (UInt, String) {
        let url = try TestServices.url("qdrant-standin", environmentVariable: "VECTORSTREAM_TEST_QDRANT_STANDIN_URL")
        var request = HTTPClientRequest(url: url + path)
        request.method = method
        request.headers.add(name: "Content-Type", value: "application/json")
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, String(buffer: bytes))
    }

    @Test("the removed points/search, an unknown field and an undeclared query parameter are refused")
    func refusesWhatTheDocumentDoesNotAllow() async throws {
        let collection = VectorDBTestSupport.collectionName("standin")
        #expect(try await send(.PUT, "/collections/\(collection)", #"{"vectors":{"size":2,"distance":"Cosine"}}"#).0 == 200)
        let search = try await send(.POST, "/collections/\(collection)/points/search", #"{"vector":[1,0],"limit":1}"#)
        #expect(search.0 == 422 && search.1.contains("no operation POST"))
        let unknown = try await send(.POST, "/collections/\(collection)/points/query", #"{"vector":[1,0],"limit":1}"#)
        #expect(unknown.0 == 422 && unknown.1.contains("additionalProperties") && unknown.1.contains("'vector'"))
        let badLimit = try await send(.POST, "/collections/\(collection)/points/query", #"{"query":[1,0],"limit":0}"#)
        #expect(badLimit.0 == 422 && badLimit.1.contains("limit"))
        let param = try await send(.PUT, "/collections/\(collection)/points?wait=yes", #"{"points":[]}"#)
        #expect(param.0 == 422 && param.1.contains("wait"))
        let ok = try await send(.POST, "/collections/\(collection)/points/query", #"{"query":[1,0],"limit":1}"#)
        #expect(ok.0 == 200 && ok.1.contains(#""points": []"#))
        #expect(QdrantStandIn.violations(collection: collection).count == 4)
        _ = try await send(.DELETE, "/collections/\(collection)")
    }
}
