import AsyncHTTPClient
import Logging
import NIOConcurrencyHelpers
import NIOHTTP1
import VectorStreamCore

/// Product vectors in Qdrant over its REST API, for Qdrant 1.10 and newer: searches use the Query API
/// (`POST /collections/{name}/points/query`, since 1.10), which replaced `points/search` (removed in 1.19).
/// Every request is checked against Qdrant's own OpenAPI document for 1.19 by the contract tests.
///
/// One point per product. Qdrant ids are unsigned integers or UUIDs, so the point id is a UUID derived from
/// the product id (SHA-256, stable across processes); the product id itself is in the payload. Payload
/// indexes on category, price, model version and product id keep filtered search fast. Writes use
/// `wait=true`, so a returned upsert is applied and visible to searches.
public final class QdrantVectorStore: VectorStore, HealthCheckable, Sendable {
    public enum Distance: String, Sendable, Hashable {
        /// Qdrant normalises vectors on insert; for unit vectors it equals the inner product.
        case cosine = "Cosine"
        case dot = "Dot"
    }

    public struct Configuration: Sendable {
        /// REST base URL, e.g. `http://127.0.0.1:6333`.
        public var url: String
        /// Sent as the `api-key` header. Never logged.
        public var apiKey: String?
        public var collection: String
        public var dimension: Int
        public var distance: Distance
        public var requestTimeout: Duration
        /// Points per upsert request.
        public var writeBatchSize: Int
        /// HNSW build parameters and search breadth (`hnsw_ef`, raised to `k` when smaller).
        public var hnswM: Int
        public var hnswEfConstruct: Int
        public var searchEf: Int

        public init(url: String, apiKey: String? = nil, collection: String = "products", dimension: Int = 384,
                    distance: Distance = .cosine, requestTimeout: Duration = .seconds(30), writeBatchSize: Int = 256,
                    hnswM: Int = 16, hnswEfConstruct: Int = 100, searchEf: Int = 64) {
            self.url = url
            self.apiKey = apiKey
            self.collection = collection
            self.dimension = dimension
            self.distance = distance
            self.requestTimeout = requestTimeout
            self.writeBatchSize = writeBatchSize
            self.hnswM = hnswM
            self.hnswEfConstruct = hnswEfConstruct
            self.searchEf = searchEf
        }
    }

    public let configuration: Configuration
    public var dependencyName: String { "qdrant" }
    let transport: RESTTransport
    let logger: Logger
    private let prepared = NIOLockedValueBox(false)

    public init(configuration: Configuration, httpClient: HTTPClient = .shared,
                logger: Logger = Logger(label: "vectorstream.qdrant")) {
        self.configuration = configuration
        self.transport = RESTTransport(baseURL: configuration.url,
                                       authorization: configuration.apiKey.map { ("api-key", $0) },
                                       timeout: configuration.requestTimeout, client: httpClient, system: "qdrant")
        self.logger = logger
    }

    private var collectionPath: String { "/collections/\(QdrantRequests.pathSegment(configuration.collection))" }

    /// Creates the collection and its payload indexes when absent and checks the vector size.
    public func prepare() async throws {
        if prepared.withLockedValue({ $0 }) { return }
        let exists = try Self.result(try await transport.send(.GET, collectionPath + "/exists"), "collection exists")
        if exists["exists"]?.boolValue != true {
            let created = try await transport.send(.PUT, collectionPath, body: QdrantRequests.createCollection(configuration))
            // 409 or an "already exists" error: another worker created it first.
            if created.status != .ok, created.status != .conflict,
               !(created.text.contains("already exists"))
            {
                throw VectorDatabaseError(.server, "qdrant: create collection '\(configuration.collection)': HTTP \(created.status.code): \(created.text)")
            }
            logger.info("created qdrant collection", metadata: ["collection": "\(configuration.collection)"])
        } else {
            let result = try Self.result(try await transport.send(.GET, collectionPath), "GET collection")
            // Single unnamed vector: `config.params.vectors.size`.
            if let size = result["config"]?["params"]?["vectors"]?["size"]?.int64Value, size != Int64(configuration.dimension) {
                throw VectorDatabaseError(.incompatibleCollection,
                                          "qdrant: collection '\(configuration.collection)' has vector size \(size), expected \(configuration.dimension)")
            }
        }
        for (field, schema) in QdrantRequests.payloadIndexes {
            let r = try await transport.send(.PUT, collectionPath + "/index?wait=true",
                                             body: QdrantRequests.createPayloadIndex(field: field, schema: schema))
            _ = try Self.result(r, "create payload index \(field)")
        }
        prepared.withLockedValue { $0 = true }
    }

    /// Deletes the collection (tests start clean); absent is fine.
    public func dropCollection() async throws {
        let r = try await transport.send(.DELETE, collectionPath)
        if r.status != .notFound { _ = try Self.result(r, "delete collection") }
        prepared.withLockedValue { $0 = false }
    }

    public func upsert(_ vectors: [ProductVector]) async throws {
        guard !vectors.isEmpty else { return }
        for v in vectors where v.vector.count != configuration.dimension {
            throw VectorDatabaseError(.invalidArgument,
                                      "qdrant: vector of product \(v.productID) has \(v.vector.count) dimensions, expected \(configuration.dimension)")
        }
        try await prepare()
        for start in stride(from: 0, to: vectors.count, by: max(1, configuration.writeBatchSize)) {
            let batch = Array(vectors[start..<min(vectors.count, start + configuration.writeBatchSize)])
            let r = try await transport.send(.PUT, collectionPath + "/points?wait=true", body: QdrantRequests.upsert(batch))
            _ = try Self.result(r, "upsert points")
        }
    }

    public func search(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String) async throws -> [SearchHit] {
        guard k > 0 else { return [] }
        guard query.count == configuration.dimension else {
            throw VectorDatabaseError(.invalidArgument, "qdrant: query has \(query.count) dimensions, expected \(configuration.dimension)")
        }
        try await prepare()
        let body = QdrantRequests.search(query, k: k, filter: filter, modelVersion: modelVersion,
                                         hnswEf: max(k, configuration.searchEf))
        let r = try await transport.send(.POST, collectionPath + "/points/query", body: body)
        let points = try Self.result(r, "query")["points"]?.arrayValue ?? []
        return points.compactMap { point in
            guard let payload = point["payload"], let id = payload["product_id"]?.stringValue else { return nil }
            return SearchHit(productID: id, score: Float(point["score"]?.doubleValue ?? 0),
                             name: payload["name"]?.stringValue ?? "", category: payload["category"]?.stringValue ?? "",
                             price: payload["price"]?.doubleValue ?? 0)
        }
    }

    public func vector(forProduct id: String) async throws -> ProductVector? {
        try await prepare()
        let r = try await transport.send(.POST, collectionPath + "/points",
                                         body: QdrantRequests.retrieve([id], withVector: true))
        guard let point = try Self.result(r, "retrieve").arrayValue?.first, let payload = point["payload"],
              let vector = point["vector"]?.floatArrayValue
        else { return nil }
        return ProductVector(productID: payload["product_id"]?.stringValue ?? id, vector: vector,
                             name: payload["name"]?.stringValue ?? "", category: payload["category"]?.stringValue ?? "",
                             price: payload["price"]?.doubleValue ?? 0,
                             modelVersion: payload["model_version"]?.stringValue ?? "",
                             contentHash: payload["text_hash"]?.stringValue ?? "",
                             updatedAt: payload["updated_at"]?.int64Value ?? 0)
    }

    public func contentHashes(forProducts ids: [String]) async throws -> [String: (contentHash: String, modelVersion: String)] {
        guard !ids.isEmpty else { return [:] }
        try await prepare()
        var out = [String: (contentHash: String, modelVersion: String)]()
        let unique = Array(Set(ids))
        for start in stride(from: 0, to: unique.count, by: 1000) {
            let chunk = Array(unique[start..<min(unique.count, start + 1000)])
            let r = try await transport.send(.POST, collectionPath + "/points",
                                             body: QdrantRequests.retrieve(chunk, withVector: false))
            for point in try Self.result(r, "retrieve").arrayValue ?? [] {
                guard let payload = point["payload"], let id = payload["product_id"]?.stringValue else { continue }
                out[id] = (payload["text_hash"]?.stringValue ?? "", payload["model_version"]?.stringValue ?? "")
            }
        }
        return out
    }

    public func count() async throws -> Int {
        try await prepare()
        let r = try await transport.send(.POST, collectionPath + "/points/count", body: ["exact": true])
        guard let n = try Self.result(r, "count")["count"]?.int64Value else {
            throw VectorDatabaseError(.unexpectedResponse, "qdrant: count returned no count")
        }
        return Int(n)
    }

    /// Products whose stored vector is of another model version: what must be re-embedded after a model change.
    public func productIDs(notOfModelVersion modelVersion: String, limit: Int = 1000) async throws -> [String] {
        try await prepare()
        let r = try await transport.send(.POST, collectionPath + "/points/scroll",
                                         body: QdrantRequests.scrollOtherVersions(modelVersion, limit: limit))
        let points = try Self.result(r, "scroll")["points"]?.arrayValue ?? []
        return points.compactMap { $0["payload"]?["product_id"]?.stringValue }.sorted()
    }

    public func checkHealth() async -> DependencyHealth {
        do {
            var r = try await transport.send(.GET, "/readyz")
            if r.status == .notFound { r = try await transport.send(.GET, "/") }  // servers before 1.5
            guard r.status == .ok else { return .down("qdrant: HTTP \(r.status.code)") }
            return .ok
        } catch let error as VectorDatabaseError {
            return .down(error.description)
        } catch {
            return .down("qdrant: \(error)")
        }
    }

    /// `result` of a successful answer; Qdrant reports errors as `{"status": {"error": "..."}}`.
    static func result(_ r: RESTTransport.Response, _ what: String) throws -> JSONValue {
        let body = try? r.json()
        guard r.status == .ok, let body else {
            let message = body?["status"]?["error"]?.stringValue ?? r.text
            throw VectorDatabaseError(.server, "qdrant: \(what): HTTP \(r.status.code): \(message)")
        }
        return body["result"] ?? .null
    }
}

/// The request bodies, as Qdrant's REST API documents them (kept apart so that tests can check them).
enum QdrantRequests {
    /// Payload fields indexed for filtering, with their Qdrant index type.
    static let payloadIndexes: [(String, String)] = [
        ("category", "keyword"), ("price", "float"), ("model_version", "keyword"), ("product_id", "keyword"),
    ]

    /// `PUT /collections/{name}`.
    static func createCollection(_ c: QdrantVectorStore.Configuration) -> JSONValue {
        [
            "vectors": ["size": .int(Int64(c.dimension)), "distance": .string(c.distance.rawValue)],
            "hnsw_config": ["m": .int(Int64(c.hnswM)), "ef_construct": .int(Int64(c.hnswEfConstruct))],
        ]
    }

    /// `PUT /collections/{name}/index`.
    static func createPayloadIndex(field: String, schema: String) -> JSONValue {
        ["field_name": .string(field), "field_schema": .string(schema)]
    }

    /// `PUT /collections/{name}/points?wait=true`.
    static func upsert(_ vectors: [ProductVector]) -> JSONValue {
        ["points": .array(vectors.map { v in
            [
                "id": .string(pointID(v.productID)),
                "vector": .floats(v.vector),
                "payload": [
                    "product_id": .string(v.productID),
                    "name": .string(v.name),
                    "category": .string(v.category),
                    "price": .double(v.price),
                    "model_version": .string(v.modelVersion),
                    "text_hash": .string(v.contentHash),
                    "updated_at": .int(v.updatedAt),
                ],
            ]
        })]
    }

    /// `POST /collections/{name}/points/query` (the Query API): the model version always, then category, price and
    /// exclusions.
    static func search(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String, hnswEf: Int) -> JSONValue {
        var must: [JSONValue] = [["key": "model_version", "match": ["value": .string(modelVersion)]]]
        if let category = filter.category {
            must.append(["key": "category", "match": ["value": .string(category)]])
        }
        if filter.minPrice != nil || filter.maxPrice != nil {
            var range = [String: JSONValue]()
            if let minPrice = filter.minPrice { range["gte"] = .double(minPrice) }
            if let maxPrice = filter.maxPrice { range["lte"] = .double(maxPrice) }
            must.append(["key": "price", "range": .object(range)])
        }
        var qdrantFilter: [String: JSONValue] = ["must": .array(must)]
        if !filter.excludedProductIDs.isEmpty {
            qdrantFilter["must_not"] = [["key": "product_id",
                                         "match": ["any": .array(filter.excludedProductIDs.sorted().map { .string($0) })]]]
        }
        return [
            "query": .floats(query),
            "filter": .object(qdrantFilter),
            "limit": .int(Int64(k)),
            "with_payload": ["product_id", "name", "category", "price"],
            "with_vector": false,
            "params": ["hnsw_ef": .int(Int64(hnswEf))],
        ]
    }

    /// `POST /collections/{name}/points`: retrieve points by id.
    static func retrieve(_ productIDs: [String], withVector: Bool) -> JSONValue {
        ["ids": .array(productIDs.map { .string(pointID($0)) }), "with_payload": true, "with_vector": .bool(withVector)]
    }

    /// `POST /collections/{name}/points/scroll`: points whose model version is not the current one.
    static func scrollOtherVersions(_ modelVersion: String, limit: Int) -> JSONValue {
        [
            "filter": ["must_not": [["key": "model_version", "match": ["value": .string(modelVersion)]]]],
            "limit": .int(Int64(max(1, limit))),
            "with_payload": ["product_id"],
            "with_vector": false,
        ]
    }

    /// A UUID (version 8, "custom") from the product id's SHA-256, so every worker finds the same point.
    static func pointID(_ productID: String) -> String {
        var hex = Array(ContentHash.of("qdrant-point\u{1F}" + productID).utf8)  // 32 hex digits
        hex[12] = UInt8(ascii: "8")  // version
        let variant: [UInt8] = Array("89ab".utf8)
        let nibble = Int(hexValue(hex[16]) & 3)
        hex[16] = variant[nibble]
        let s = String(decoding: hex, as: UTF8.self)
        let i = s.startIndex
        func slice(_ a: Int, _ b: Int) -> Substring { s[s.index(i, offsetBy: a)..<s.index(i, offsetBy: b)] }
        return "\(slice(0, 8))-\(slice(8, 12))-\(slice(12, 16))-\(slice(16, 20))-\(slice(20, 32))"
    }

    private static func hexValue(_ c: UInt8) -> UInt8 {
        c >= UInt8(ascii: "a") ? c - UInt8(ascii: "a") + 10 : c - UInt8(ascii: "0")
    }

    static func pathSegment(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(Unicode.Scalar(b))
            if c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-" || c == ".") {
                out.append(c)
            } else {
                let h = String(b, radix: 16, uppercase: true)
                out += "%" + (h.count == 1 ? "0" + h : h)
            }
        }
        return out
    }
}
