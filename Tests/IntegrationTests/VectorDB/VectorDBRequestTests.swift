import Testing
import VectorStreamCore
@testable import VectorStreamVectorDB

/// The request bodies and filter expressions, checked against the shapes Qdrant and Milvus document. No server.
@Suite("Vector database requests")
struct VectorDBRequestTests {
    @Test func qdrantCreateCollectionBody() throws {
        let body = QdrantRequests.createCollection(.init(url: "http://x", dimension: 384))
        #expect(body.serializedString
            == #"{"hnsw_config":{"ef_construct":100,"m":16},"vectors":{"distance":"Cosine","size":384}}"#)
    }

    @Test func qdrantPayloadIndexBody() {
        #expect(QdrantRequests.createPayloadIndex(field: "price", schema: "float").serializedString
            == #"{"field_name":"price","field_schema":"float"}"#)
        #expect(Set(QdrantRequests.payloadIndexes.map(\.0)) == ["category", "price", "model_version", "product_id"])
    }

    @Test func qdrantUpsertBody() throws {
        let v = ProductVector(productID: "p-1", vector: [0.5, -0.25, 1], name: "Tent \"XL\"", category: "Sports",
                              price: 99.5, modelVersion: "m1", contentHash: "abc", updatedAt: 1_700_000_000_000)
        let body = QdrantRequests.upsert([v])
        let point = try #require(body["points"]?.arrayValue?.first)
        #expect(point["id"]?.stringValue == QdrantRequests.pointID("p-1"))
        #expect(point["vector"] == .floats([0.5, -0.25, 1]))
        #expect(point["payload"] == [
            "product_id": "p-1", "name": "Tent \"XL\"", "category": "Sports", "price": 99.5, "model_version": "m1",
            "text_hash": "abc", "updated_at": 1_700_000_000_000,
        ])
        // What goes on the wire parses back to the same document.
        let reparsed = try JSONValue(parsing: body.serialized)
        #expect(reparsed["points"]?.arrayValue?.first?["payload"]?["name"]?.stringValue == "Tent \"XL\"")
        #expect(reparsed["points"]?.arrayValue?.first?["vector"]?.floatArrayValue == [0.5, -0.25, 1])
    }

    @Test func qdrantPointIDsAreStableUUIDs() {
        let a = QdrantRequests.pointID("p-1")
        #expect(a == QdrantRequests.pointID("p-1"))
        #expect(a != QdrantRequests.pointID("p-2"))
        let groups = a.split(separator: "-").map(\.count)
        #expect(groups == [8, 4, 4, 4, 12])
        #expect(a.allSatisfy { $0 == "-" || $0.isHexDigit })
        #expect(Array(a)[14] == "8")  // version 8
        #expect("89ab".contains(Array(a)[19]))  // RFC 4122 variant
    }

    @Test func qdrantSearchBodyFiltersOnModelVersionCategoryPriceAndExclusions() throws {
        let filter = SearchFilter(category: "Books", minPrice: 5, maxPrice: 20.5, excludedProductIDs: ["b", "a"])
        let body = QdrantRequests.search([1, 0], k: 10, filter: filter, modelVersion: "m2", hnswEf: 64)
        #expect(body.serializedString == """
            {"filter":{"must":[{"key":"model_version","match":{"value":"m2"}},{"key":"category","match":{"value":"Books"}},\
            {"key":"price","range":{"gte":5,"lte":20.5}}],"must_not":[{"key":"product_id","match":{"any":["a","b"]}}]},\
            "limit":10,"params":{"hnsw_ef":64},"query":[1,0],"with_payload":["product_id","name","category","price"],\
            "with_vector":false}
            """)
        // Without a filter, only the model version is required and nothing is excluded.
        let plain = QdrantRequests.search([1, 0], k: 3, filter: SearchFilter(), modelVersion: "m2", hnswEf: 64)
        #expect(plain["filter"] == ["must": [["key": "model_version", "match": ["value": "m2"]]]])
        // Only a lower bound: a one-sided range.
        let minOnly = QdrantRequests.search([1], k: 1, filter: SearchFilter(minPrice: 3), modelVersion: "m", hnswEf: 8)
        #expect(minOnly["filter"]?["must"]?.arrayValue?.last == ["key": "price", "range": ["gte": 3.0]])
    }

    @Test func qdrantRetrieveAndScrollBodies() {
        #expect(QdrantRequests.retrieve(["p"], withVector: false)
            == ["ids": [.string(QdrantRequests.pointID("p"))], "with_payload": true, "with_vector": false])
        #expect(QdrantRequests.scrollOtherVersions("m3", limit: 50).serializedString
            == #"{"filter":{"must_not":[{"key":"model_version","match":{"value":"m3"}}]},"limit":50,"with_payload":["product_id"],"with_vector":false}"#)
    }

    @Test func milvusFilterExpression() {
        #expect(MilvusVectorStore.filterExpression(SearchFilter(), modelVersion: "m1") == #"model_version == "m1""#)
        let full = SearchFilter(category: "Home & Kitchen", minPrice: 10, maxPrice: 99.99, excludedProductIDs: ["p2", "p1"])
        #expect(MilvusVectorStore.filterExpression(full, modelVersion: "m1") == """
            model_version == "m1" and category == "Home & Kitchen" and price >= 10 and price <= 99.99 \
            and product_id not in ["p1", "p2"]
            """)
        // Quotes and backslashes cannot end the string literal early.
        #expect(MilvusVectorStore.quoted(#"a"b\c"#) == #""a\"b\\c""#)
        #expect(MilvusVectorStore.inFilter("product_id", ["x", "y"]) == #"product_id in ["x", "y"]"#)
    }

    @Test func milvusV2CreateBodyHasTheProductSchemaAndAnHNSWIndex() throws {
        let store = MilvusVectorStore(configuration: .init(url: "http://x", collection: "products"))
        let body = store.v2CreateBody()
        let fields = try #require(body["schema"]?["fields"]?.arrayValue)
        let byName = Dictionary(uniqueKeysWithValues: fields.map { ($0["fieldName"]!.stringValue!, $0) })
        #expect(byName["product_id"]?["dataType"] == "VarChar" && byName["product_id"]?["isPrimary"] == true)
        #expect(byName["vector"]?["dataType"] == "FloatVector" && byName["vector"]?["elementTypeParams"]?["dim"] == 384)
        #expect(byName["price"]?["dataType"] == "Double" && byName["updated_at"]?["dataType"] == "Int64")
        #expect(Set(byName.keys) == ["product_id", "vector", "name", "category", "price", "model_version", "text_hash", "updated_at"])
        #expect(body["schema"]?["autoId"] == false)
        let index = try #require(body["indexParams"]?.arrayValue?.first)
        #expect(index["indexType"] == "HNSW" && index["metricType"] == "IP" && index["fieldName"] == "vector")
    }

    @Test func jsonRoundTripsEscapesNumbersAndUnicode() throws {
        let value: JSONValue = ["s": "line\nbreak \u{1} \"q\" é 😀", "i": -42, "d": 0.1, "big": "470622428186542253",
                                "a": [true, nil, 1.5e-7], "f": .floats([0.1, -2, 3.25])]
        let parsed = try JSONValue(parsing: value.serialized)
        #expect(parsed["s"] == value["s"])
        #expect(parsed["i"] == -42 && parsed["d"] == 0.1)
        #expect(parsed["big"]?.int64Value == 470_622_428_186_542_253)
        #expect(parsed["a"] == [true, nil, 1.5e-7])
        #expect(parsed["f"]?.floatArrayValue == [0.1, -2, 3.25])
        #expect(try JSONValue(parsing: #"{"u":"\u00e9\ud83d\ude00"}"#)["u"] == "é😀")
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: #"{"a":1"#) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: "[1,2] x") }
    }

    @Test func storeSelectionFollowsConfiguration() {
        var settings = VectorStreamConfiguration().vectorDB
        #expect(VectorDatabase.makeStore(settings: settings) == nil)
        settings.milvusURL = "http://127.0.0.1:19530"
        #expect(VectorDatabase.makeStore(settings: settings)?.dependencyName == "milvus")
        settings.milvusURL = nil
        settings.qdrantURL = "http://127.0.0.1:6333"
        settings.collection = "shop"
        let qdrant = VectorDatabase.makeStore(settings: settings) as? QdrantVectorStore
        #expect(qdrant?.configuration.collection == "shop")
    }
}
