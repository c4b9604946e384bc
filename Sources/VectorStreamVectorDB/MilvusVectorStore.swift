import AsyncHTTPClient
import Logging
import NIOConcurrencyHelpers
import NIOHTTP1
import VectorStreamCore

/// Product vectors in Milvus over its REST API: v1 (Milvus 2.3) or v2 (2.4 and newer), chosen by probing.
///
/// Layout of the collection, per API version:
/// - **v2**: a fixed schema: `product_id` (VarChar primary key), `vector` (FloatVector, `dimension`), `name`,
///   `category`, `price` (Double), `model_version`, `text_hash`, `updated_at` (Int64), with an HNSW index on
///   the vector (inner product: vectors are unit length, so it equals cosine). Upsert is native.
/// - **v1**: `collections/create` gives only an auto-generated Int64 `id`, the `vector` and dynamic fields, and an
///   AUTOINDEX (HNSW in Milvus 2.3 standalone) with the metric we ask for (IP). The other columns are dynamic
///   fields. v1 has no upsert, so an upsert deletes the products' rows by a `product_id in [...]` filter and
///   inserts. The delete is by filter, not by ids found with a query: v1 queries are Bounded-consistent (a row
///   inserted a moment ago, by this process or by another worker that held the product's claim just before, is
///   not seen yet), while Milvus 2.3 resolves a delete's filter against everything written before it (two
///   workers left two rows per product with query-then-delete: RELIABILITY.md finding 4). Servers older than 2.3
///   refuse a filter on a non-primary field; there the store falls back to query-then-delete, remembering the
///   ids it inserted in the last `consistencyWindow`. Searches drop duplicate products either way.
///
/// Every search filters on `model_version`, so vectors of two models never mix in one answer.
public final class MilvusVectorStore: VectorStore, HealthCheckable, Sendable {
    public enum APIVersion: String, Sendable, Hashable, CaseIterable {
        case v1
        case v2
    }

    public struct Configuration: Sendable {
        /// REST base URL, e.g. `http://127.0.0.1:19530`.
        public var url: String
        /// `user:password` or an API key; sent as `Authorization: Bearer`. Never logged.
        public var token: String?
        public var collection: String
        /// Vector length; all-MiniLM-L6-v2 gives 384.
        public var dimension: Int
        /// nil: probe the server (v2 when it answers, else v1).
        public var apiVersion: APIVersion?
        /// Per request. Inserting a large batch on a busy server takes seconds.
        public var requestTimeout: Duration
        /// Rows per insert/upsert request; ~1.6 KB of JSON per 384-dimension row.
        public var writeBatchSize: Int
        /// HNSW build parameters (v2; v1 uses the server's AUTOINDEX settings).
        public var hnswM: Int
        public var hnswEfConstruction: Int
        /// HNSW search breadth (v2); raised to `k` when smaller.
        public var searchEf: Int
        /// How long v1 remembers the ids it inserted, covering the server's read lag (Bounded consistency).
        public var consistencyWindow: Duration
        /// How long `prepare()` waits for a collection to finish loading.
        public var loadTimeout: Duration

        public init(url: String, token: String? = nil, collection: String = "products", dimension: Int = 384,
                    apiVersion: APIVersion? = nil, requestTimeout: Duration = .seconds(30), writeBatchSize: Int = 500,
                    hnswM: Int = 16, hnswEfConstruction: Int = 200, searchEf: Int = 64,
                    consistencyWindow: Duration = .seconds(30), loadTimeout: Duration = .seconds(120)) {
            self.url = url
            self.token = token
            self.collection = collection
            self.dimension = dimension
            self.apiVersion = apiVersion
            self.requestTimeout = requestTimeout
            self.writeBatchSize = writeBatchSize
            self.hnswM = hnswM
            self.hnswEfConstruction = hnswEfConstruction
            self.searchEf = searchEf
            self.consistencyWindow = consistencyWindow
            self.loadTimeout = loadTimeout
        }
    }

    public let configuration: Configuration
    public var dependencyName: String { "milvus" }
    let transport: RESTTransport
    let logger: Logger

    private struct State {
        var apiVersion: APIVersion?
        var prepared = false
        /// v1: product id → ids inserted recently, which a lagging query may not return yet.
        var recentIDs: [String: (ids: [Int64], at: ContinuousClock.Instant)] = [:]
        /// Deletes by a `product_id` filter (Milvus 2.3+) until the server refuses one.
        var deleteByFilter = true
    }
    private let state: NIOLockedValueBox<State>
    /// REST v1 writes (query, delete, insert) of this process one at a time: two concurrent upserts of one
    /// product would otherwise both find nothing to delete and insert two rows. Across processes the pipeline's
    /// product-record claims keep two workers off the same record; v2 servers upsert natively.
    private let v1Writes = AsyncSerialLock()

    public init(configuration: Configuration, httpClient: HTTPClient = .shared,
                logger: Logger = Logger(label: "vectorstream.milvus")) {
        self.configuration = configuration
        self.transport = RESTTransport(
            baseURL: configuration.url,
            authorization: configuration.token.map { ("Authorization", "Bearer \($0)") },
            timeout: configuration.requestTimeout, client: httpClient, system: "milvus")
        self.logger = logger
        self.state = NIOLockedValueBox(State(apiVersion: configuration.apiVersion))
    }

    /// The URL as logs and errors may show it: a password in it is masked.
    var maskedURL: String { VectorStreamConfiguration.maskURL(configuration.url) }

    // MARK: Field names

    static let productIDField = "product_id"
    static let vectorField = "vector"
    static let v1PrimaryField = "id"
    static let payloadFields = ["product_id", "name", "category", "price", "model_version", "text_hash", "updated_at"]

    // MARK: API version and collection

    /// The API version in use: configured, or probed once.
    public func apiVersion() async throws -> APIVersion {
        if let known = state.withLockedValue({ $0.apiVersion }) { return known }
        let probed = try await probe()
        state.withLockedValue { $0.apiVersion = probed }
        logger.info("milvus REST API", metadata: ["version": "\(probed.rawValue)", "url": "\(maskedURL)"])
        return probed
    }

    /// v2 when `/v2/vectordb/collections/list` answers with code 0; v1 when `/v1/vector/collections` does.
    func probe() async throws -> APIVersion {
        let v2 = try await transport.send(.POST, "/v2/vectordb/collections/list", body: [:])
        if v2.status == .ok, let body = try? v2.json(), body["code"]?.int64Value == 0 { return .v2 }
        let v1 = try await transport.send(.GET, "/v1/vector/collections")
        if v1.status == .ok, let body = try? v1.json(), body["code"]?.int64Value == 200 { return .v1 }
        if let body = try? v1.json(), let message = body["message"]?.stringValue {
            throw VectorDatabaseError(.server, "milvus: \(message)")
        }
        throw VectorDatabaseError(.unexpectedResponse,
                                  "milvus: neither REST v2 nor v1 answers at \(maskedURL) (HTTP \(v1.status.code))")
    }

    /// Creates the collection (with its index) when absent, checks its dimension and makes sure it is loaded.
    /// Called by every operation the first time; idempotent and safe to call concurrently.
    public func prepare() async throws {
        if state.withLockedValue({ $0.prepared }) { return }
        guard configuration.dimension > 0 else {
            throw VectorDatabaseError(.invalidArgument, "milvus: dimension must be positive")
        }
        switch try await apiVersion() {
        case .v1: try await prepareV1()
        case .v2: try await prepareV2()
        }
        state.withLockedValue { $0.prepared = true }
    }

    private func prepareV1() async throws {
        var description = try await describeV1()
        if description == nil {
            let body: JSONValue = [
                "collectionName": .string(configuration.collection),
                "dimension": .int(Int64(configuration.dimension)),
                "metricType": "IP",
                "primaryField": .string(Self.v1PrimaryField),
                "vectorField": .string(Self.vectorField),
                "description": "VectorStream product vectors",
            ]
            let created = try await transport.send(.POST, "/v1/vector/collections/create", body: body)
            if let failure = failure(created, api: .v1), !failure.contains("already exist") {
                throw VectorDatabaseError(.server, "milvus: create collection '\(configuration.collection)': \(failure)")
            }
            logger.info("created milvus collection", metadata: ["collection": "\(configuration.collection)", "api": "v1"])
            description = try await describeV1()
        }
        guard var info = description else {
            throw VectorDatabaseError(.unexpectedResponse, "milvus: collection '\(configuration.collection)' not found after create")
        }
        let fields = info["fields"]?.arrayValue ?? []
        let vectorType = fields.first { $0["name"]?.stringValue == Self.vectorField }?["type"]?.stringValue
        guard vectorType == "FloatVector(\(configuration.dimension))" else {
            throw VectorDatabaseError(.incompatibleCollection,
                                      "milvus: collection '\(configuration.collection)' has vector field \(vectorType ?? "none"), expected FloatVector(\(configuration.dimension))")
        }
        // v1 create loads the collection itself, and v1 has no load call: wait while it loads.
        let deadline = ContinuousClock.now + configuration.loadTimeout
        while info["load"]?.stringValue != "LoadStateLoaded" {
            let load = info["load"]?.stringValue ?? "unknown"
            guard load == "LoadStateLoading", ContinuousClock.now < deadline else {
                throw VectorDatabaseError(.server,
                                          "milvus: collection '\(configuration.collection)' is not loaded (\(load)); REST v1 cannot load it, load it with a Milvus client")
            }
            try await Task.sleep(for: .milliseconds(200))
            guard let again = try await describeV1() else { break }
            info = again
        }
    }

    private func describeV1() async throws -> JSONValue? {
        let r = try await transport.send(.GET, "/v1/vector/collections/describe?collectionName=\(urlEncoded(configuration.collection))")
        let body = try r.json()
        if let failure = failure(r, api: .v1) {
            if failure.contains("not found") || failure.contains("can't find") { return nil }
            throw VectorDatabaseError(.server, "milvus: describe '\(configuration.collection)': \(failure)")
        }
        return body["data"]
    }

    private func prepareV2() async throws {
        let has = try await callV2("/v2/vectordb/collections/has", ["collectionName": .string(configuration.collection)])
        if has["has"]?.boolValue != true {
            let created = try await transport.send(.POST, "/v2/vectordb/collections/create", body: v2CreateBody())
            if let failure = failure(created, api: .v2), !failure.contains("already exist") {
                throw VectorDatabaseError(.server, "milvus: create collection '\(configuration.collection)': \(failure)")
            }
            logger.info("created milvus collection", metadata: ["collection": "\(configuration.collection)", "api": "v2"])
        }
        let info = try await callV2("/v2/vectordb/collections/describe", ["collectionName": .string(configuration.collection)])
        let fields = info["fields"]?.arrayValue ?? []
        guard let vector = fields.first(where: { $0["name"]?.stringValue == Self.vectorField }),
              fields.contains(where: { $0["name"]?.stringValue == Self.productIDField && $0["primaryKey"]?.boolValue == true })
        else {
            throw VectorDatabaseError(.incompatibleCollection,
                                      "milvus: collection '\(configuration.collection)' lacks the product_id primary key or the vector field")
        }
        let dim = (vector["params"]?.arrayValue ?? []).first { $0["key"]?.stringValue == "dim" }?["value"]?.int64Value
        if let dim, dim != Int64(configuration.dimension) {
            throw VectorDatabaseError(.incompatibleCollection,
                                      "milvus: collection '\(configuration.collection)' has dimension \(dim), expected \(configuration.dimension)")
        }
        // A collection created with index parameters is loaded; one released (or restored) must be loaded.
        let deadline = ContinuousClock.now + configuration.loadTimeout
        var requested = false
        while true {
            let s = try await callV2("/v2/vectordb/collections/get_load_state", ["collectionName": .string(configuration.collection)])
            let loadState = s["loadState"]?.stringValue ?? "unknown"
            if loadState == "LoadStateLoaded" { return }
            if loadState == "LoadStateNotLoad" && !requested {
                _ = try await callV2("/v2/vectordb/collections/load", ["collectionName": .string(configuration.collection)])
                requested = true
            }
            guard ContinuousClock.now < deadline else {
                throw VectorDatabaseError(.server, "milvus: collection '\(configuration.collection)' did not load (\(loadState))")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    func v2CreateBody() -> JSONValue {
        func varchar(_ name: String, _ maxLength: Int64, primary: Bool = false) -> JSONValue {
            ["fieldName": .string(name), "dataType": "VarChar", "isPrimary": .bool(primary),
             "elementTypeParams": ["max_length": .int(maxLength)]]
        }
        return [
            "collectionName": .string(configuration.collection),
            "schema": [
                "autoId": false,
                "enableDynamicField": false,
                "fields": [
                    varchar(Self.productIDField, 256, primary: true),
                    ["fieldName": .string(Self.vectorField), "dataType": "FloatVector",
                     "elementTypeParams": ["dim": .int(Int64(configuration.dimension))]],
                    varchar("name", 1024),
                    varchar("category", 256),
                    ["fieldName": "price", "dataType": "Double"],
                    varchar("model_version", 256),
                    varchar("text_hash", 128),
                    ["fieldName": "updated_at", "dataType": "Int64"],
                ],
            ],
            "indexParams": [
                ["fieldName": .string(Self.vectorField), "indexName": "vector_hnsw", "metricType": "IP",
                 "indexType": "HNSW",
                 "params": ["M": .int(Int64(configuration.hnswM)), "efConstruction": .int(Int64(configuration.hnswEfConstruction))]],
            ],
        ]
    }

    /// Drops the collection (tests and benchmarks start clean); absent is fine.
    public func dropCollection() async throws {
        let api = try await apiVersion()
        let path = api == .v1 ? "/v1/vector/collections/drop" : "/v2/vectordb/collections/drop"
        let r = try await transport.send(.POST, path, body: ["collectionName": .string(configuration.collection)])
        if let failure = failure(r, api: api), !failure.contains("not found"), !failure.contains("can't find") {
            throw VectorDatabaseError(.server, "milvus: drop '\(configuration.collection)': \(failure)")
        }
        state.withLockedValue {
            $0.prepared = false
            $0.recentIDs.removeAll()
        }
    }

    /// Seals growing segments so they get their index (v2 servers that have the call). Not needed for
    /// durability: an insert is in Milvus's log when it returns. v1 has no flush; Milvus seals by size and age.
    public func flush() async throws {
        guard try await apiVersion() == .v2 else { return }
        let r = try await transport.send(.POST, "/v2/vectordb/collections/flush", body: ["collectionName": .string(configuration.collection)])
        if r.status == .notFound { return }
        if let failure = failure(r, api: .v2) {
            throw VectorDatabaseError(.server, "milvus: flush: \(failure)")
        }
    }

    // MARK: VectorStore

    public func upsert(_ vectors: [ProductVector]) async throws {
        guard !vectors.isEmpty else { return }
        try await prepare()
        for v in vectors where v.vector.count != configuration.dimension {
            throw VectorDatabaseError(.invalidArgument,
                                      "milvus: vector of product \(v.productID) has \(v.vector.count) dimensions, expected \(configuration.dimension)")
        }
        // Within one call, the last vector of a product wins.
        var latest = [String: Int]()
        for (i, v) in vectors.enumerated() { latest[v.productID] = i }
        let unique = latest.values.sorted().map { vectors[$0] }
        let api = try await apiVersion()
        for start in stride(from: 0, to: unique.count, by: max(1, configuration.writeBatchSize)) {
            let batch = Array(unique[start..<min(unique.count, start + configuration.writeBatchSize)])
            switch api {
            case .v2:
                let body: JSONValue = ["collectionName": .string(configuration.collection), "data": .array(batch.map(Self.row))]
                _ = try await callV2("/v2/vectordb/entities/upsert", body)
            case .v1:
                try await v1Writes.run { try await upsertV1(batch) }
            }
        }
    }

    private func upsertV1(_ batch: [ProductVector]) async throws {
        let ids = batch.map(\.productID)
        let now = ContinuousClock.now
        if state.withLockedValue({ $0.deleteByFilter }) {
            let body: JSONValue = ["collectionName": .string(configuration.collection),
                                   "filter": .string(Self.inFilter(Self.productIDField, ids))]
            do {
                _ = try await callV1(.POST, "/v1/vector/delete", body)
            } catch let error as VectorDatabaseError where error.kind == .server {
                // Before 2.3 a delete filter may only name the primary key: remember, and look the rows up instead.
                state.withLockedValue { $0.deleteByFilter = false }
                try await deleteFoundRowsV1(ids, now: now)
            }
        } else {
            try await deleteFoundRowsV1(ids, now: now)
        }
        let body: JSONValue = ["collectionName": .string(configuration.collection), "data": .array(batch.map(Self.row))]
        let inserted = try await callV1(.POST, "/v1/vector/insert", body)
        let newIDs = inserted["insertIds"]?.arrayValue?.compactMap(\.int64Value) ?? []
        guard newIDs.count == batch.count else {
            throw VectorDatabaseError(.unexpectedResponse, "milvus: insert of \(batch.count) rows returned \(newIDs.count) ids")
        }
        state.withLockedValue { s in
            for (v, id) in zip(batch, newIDs) { s.recentIDs[v.productID] = ([id], now) }
        }
    }

    /// The fallback for servers that delete only by primary key: the rows a query finds plus the ones this
    /// store inserted within the consistency window (which the query may not see yet).
    private func deleteFoundRowsV1(_ ids: [String], now: ContinuousClock.Instant) async throws {
        var stale = Set(try await queryV1(filter: Self.inFilter(Self.productIDField, ids), outputFields: [Self.v1PrimaryField])
            .compactMap { $0[Self.v1PrimaryField]?.int64Value })
        state.withLockedValue { s in
            s.recentIDs = s.recentIDs.filter { now - $0.value.at < configuration.consistencyWindow }
            for id in ids { stale.formUnion(s.recentIDs[id]?.ids ?? []) }
        }
        if !stale.isEmpty {
            let body: JSONValue = ["collectionName": .string(configuration.collection),
                                   "id": .array(stale.sorted().map { .int($0) })]
            _ = try await callV1(.POST, "/v1/vector/delete", body)
        }
    }

    static func row(_ v: ProductVector) -> JSONValue {
        [
            productIDField: .string(v.productID),
            vectorField: .floats(v.vector),
            "name": .string(v.name),
            "category": .string(v.category),
            "price": .double(v.price),
            "model_version": .string(v.modelVersion),
            "text_hash": .string(v.contentHash),
            "updated_at": .int(v.updatedAt),
        ]
    }

    public func search(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String) async throws -> [SearchHit] {
        guard k > 0 else { return [] }
        guard query.count == configuration.dimension else {
            throw VectorDatabaseError(.invalidArgument, "milvus: query has \(query.count) dimensions, expected \(configuration.dimension)")
        }
        try await prepare()
        let expression = Self.filterExpression(filter, modelVersion: modelVersion)
        let outputFields = [Self.productIDField, "name", "category", "price"]
        let api = try await apiVersion()
        let rows: [JSONValue]
        switch api {
        case .v2:
            let body: JSONValue = [
                "collectionName": .string(configuration.collection),
                "data": .array([.floats(query)]),
                "annsField": .string(Self.vectorField),
                "filter": .string(expression),
                "limit": .int(Int64(k)),
                "outputFields": .array(outputFields.map { .string($0) }),
                "searchParams": ["metricType": "IP", "params": ["ef": .int(Int64(max(k, configuration.searchEf)))]],
            ]
            rows = try await callV2("/v2/vectordb/entities/search", body).arrayValue ?? []
        case .v1:
            // A few extra rows cover duplicates a lagging delete may still show.
            let body: JSONValue = [
                "collectionName": .string(configuration.collection),
                "vector": .floats(query),
                "filter": .string(expression),
                "limit": .int(Int64(min(k + 8, 16_384))),
                "outputFields": .array(outputFields.map { .string($0) }),
            ]
            rows = try await callV1(.POST, "/v1/vector/search", body).arrayValue ?? []
        }
        var seen = Set<String>()
        var hits = [SearchHit]()
        for row in rows {
            guard let id = row[Self.productIDField]?.stringValue, !filter.excludedProductIDs.contains(id),
                  seen.insert(id).inserted
            else { continue }
            hits.append(SearchHit(productID: id, score: Float(row["distance"]?.doubleValue ?? 0),
                                  name: row["name"]?.stringValue ?? "", category: row["category"]?.stringValue ?? "",
                                  price: row["price"]?.doubleValue ?? 0))
            if hits.count == k { break }
        }
        return hits
    }

    public func vector(forProduct id: String) async throws -> ProductVector? {
        try await prepare()
        let rows = try await query(filter: Self.inFilter(Self.productIDField, [id]),
                                   outputFields: Self.payloadFields + [Self.vectorField])
        // v1 may briefly hold an old row next to the new one: the newest wins.
        guard let row = rows.max(by: { ($0["updated_at"]?.int64Value ?? 0) < ($1["updated_at"]?.int64Value ?? 0) }),
              let vector = row[Self.vectorField]?.floatArrayValue
        else { return nil }
        return ProductVector(productID: id, vector: vector, name: row["name"]?.stringValue ?? "",
                             category: row["category"]?.stringValue ?? "", price: row["price"]?.doubleValue ?? 0,
                             modelVersion: row["model_version"]?.stringValue ?? "",
                             contentHash: row["text_hash"]?.stringValue ?? "",
                             updatedAt: row["updated_at"]?.int64Value ?? 0)
    }

    public func contentHashes(forProducts ids: [String]) async throws -> [String: (contentHash: String, modelVersion: String)] {
        guard !ids.isEmpty else { return [:] }
        try await prepare()
        var newest = [String: (contentHash: String, modelVersion: String, updatedAt: Int64)]()
        let unique = Array(Set(ids))
        for start in stride(from: 0, to: unique.count, by: 1000) {
            let chunk = Array(unique[start..<min(unique.count, start + 1000)])
            let rows = try await query(filter: Self.inFilter(Self.productIDField, chunk),
                                       outputFields: [Self.productIDField, "text_hash", "model_version", "updated_at"])
            for row in rows {
                guard let id = row[Self.productIDField]?.stringValue else { continue }
                let updatedAt = row["updated_at"]?.int64Value ?? 0
                if let known = newest[id], known.updatedAt > updatedAt { continue }
                newest[id] = (row["text_hash"]?.stringValue ?? "", row["model_version"]?.stringValue ?? "", updatedAt)
            }
        }
        return newest.mapValues { ($0.contentHash, $0.modelVersion) }
    }

    public func count() async throws -> Int {
        try await prepare()
        let api = try await apiVersion()
        // v1 requires a filter; its auto ids are positive.
        let rows = try await query(filter: api == .v1 ? "\(Self.v1PrimaryField) > 0" : "", outputFields: ["count(*)"],
                                   limit: 0)
        guard let n = rows.first?["count(*)"]?.int64Value else {
            throw VectorDatabaseError(.unexpectedResponse, "milvus: count(*) returned no count")
        }
        return Int(n)
    }

    /// Products whose stored vector is of another model version: what must be re-embedded after a model change.
    public func productIDs(notOfModelVersion modelVersion: String, limit: Int = 1000) async throws -> [String] {
        try await prepare()
        let rows = try await query(filter: "model_version != \(Self.quoted(modelVersion))",
                                   outputFields: [Self.productIDField], limit: min(max(limit, 1), 16_384))
        return Array(Set(rows.compactMap { $0[Self.productIDField]?.stringValue })).sorted()
    }

    // MARK: Health

    /// Down when the server does not answer; degraded while the collection is not loaded (after a restart Milvus
    /// reloads it for a while, and reads fail with "collection not loaded" until it has) or does not exist yet
    /// (the first write creates it).
    public func checkHealth() async -> DependencyHealth {
        do {
            let api = try await apiVersion()
            switch api {
            case .v1: _ = try await callV1(.GET, "/v1/vector/collections", nil)
            case .v2: _ = try await callV2("/v2/vectordb/collections/list", [:])
            }
            guard let load = try await loadState() else {
                return .degraded("milvus: collection '\(configuration.collection)' does not exist yet (the first write creates it)")
            }
            guard load == "LoadStateLoaded" else {
                return .degraded("milvus: collection '\(configuration.collection)' is not loaded (\(load)); reads fail until it is")
            }
            return .ok
        } catch let error as VectorDatabaseError {
            return .down(error.description)
        } catch {
            return .down("milvus: \(error)")
        }
    }

    // MARK: Filter expressions

    /// Milvus boolean expression: the model version always, then category, price range and exclusions.
    static func filterExpression(_ filter: SearchFilter, modelVersion: String) -> String {
        var parts = ["model_version == \(quoted(modelVersion))"]
        if let category = filter.category { parts.append("category == \(quoted(category))") }
        if let minPrice = filter.minPrice { parts.append("price >= \(number(minPrice))") }
        if let maxPrice = filter.maxPrice { parts.append("price <= \(number(maxPrice))") }
        if !filter.excludedProductIDs.isEmpty {
            parts.append("\(productIDField) not in [\(filter.excludedProductIDs.sorted().map(quoted).joined(separator: ", "))]")
        }
        return parts.joined(separator: " and ")
    }

    static func inFilter(_ field: String, _ values: [String]) -> String {
        "\(field) in [\(values.map(quoted).joined(separator: ", "))]"
    }

    /// A string literal of Milvus's expression grammar: double quotes, backslash escapes.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    static func number(_ d: Double) -> String {
        guard d.isFinite else { return d > 0 ? "1e308" : "-1e308" }
        var bytes = [UInt8]()
        JSONValue.writeNumber(d, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Calls

    private func query(filter: String, outputFields: [String], limit: Int = 16_384) async throws -> [JSONValue] {
        switch try await apiVersion() {
        case .v1: return try await queryV1(filter: filter, outputFields: outputFields, limit: limit)
        case .v2:
            var body: JSONValue = [
                "collectionName": .string(configuration.collection),
                "filter": .string(filter),
                "outputFields": .array(outputFields.map { .string($0) }),
            ]
            if limit > 0, case .object(var o) = body {
                o["limit"] = .int(Int64(limit))
                body = .object(o)
            }
            return try await callV2("/v2/vectordb/entities/query", body).arrayValue ?? []
        }
    }

    private func queryV1(filter: String, outputFields: [String], limit: Int = 16_384) async throws -> [JSONValue] {
        let body: JSONValue = [
            "collectionName": .string(configuration.collection),
            "filter": .string(filter),
            "outputFields": .array(outputFields.map { .string($0) }),
            "limit": .int(Int64(limit)),
        ]
        return try await callV1(.POST, "/v1/vector/query", body).arrayValue ?? []
    }

    /// The body's `message` when the call failed: v1 answers `code` 200 on success, v2 `code` 0.
    private func failure(_ r: RESTTransport.Response, api: APIVersion) -> String? {
        guard let body = try? r.json() else { return "HTTP \(r.status.code): \(r.text)" }
        let code = body["code"]?.int64Value
        if r.status == .ok && code == (api == .v1 ? 200 : 0) { return nil }
        return "\(body["message"]?.stringValue ?? r.text) (HTTP \(r.status.code), code \(code.map(String.init) ?? "none"))"
    }

    private func callV1(_ method: HTTPMethod, _ path: String, _ body: JSONValue?, reloaded: Bool = false) async throws -> JSONValue {
        let r = try await transport.send(method, path, body: body)
        if let failure = failure(r, api: .v1) {
            if !reloaded, Self.readPaths.contains(path), Self.isNotLoaded(failure) {
                try await loadAndWait(after: failure)
                return try await callV1(method, path, body, reloaded: true)
            }
            throw VectorDatabaseError(.server, "milvus \(path): \(failure)")
        }
        return try r.json()["data"] ?? .null
    }

    private func callV2(_ path: String, _ body: JSONValue, reloaded: Bool = false) async throws -> JSONValue {
        let r = try await transport.send(.POST, path, body: body)
        if let failure = failure(r, api: .v2) {
            if !reloaded, Self.readPaths.contains(path), Self.isNotLoaded(failure) {
                try await loadAndWait(after: failure)
                return try await callV2(path, body, reloaded: true)
            }
            throw VectorDatabaseError(.server, "milvus \(path): \(failure)")
        }
        return try r.json()["data"] ?? .null
    }

    // MARK: Loading

    /// Reads that fail while the collection is not loaded, and are retried once after loading it.
    static let readPaths: Set<String> = ["/v1/vector/search", "/v1/vector/query", "/v1/vector/get",
                                         "/v2/vectordb/entities/search", "/v2/vectordb/entities/query",
                                         "/v2/vectordb/entities/get"]

    /// Milvus's refusal of a read on a released collection, or on one it is still loading after a restart.
    static func isNotLoaded(_ message: String) -> Bool {
        let m = message.lowercased()
        return m.contains("not loaded") || m.contains("notload") || m.contains("not_loaded")
    }

    /// The collection's load state (`LoadStateLoaded`, `LoadStateLoading`, `LoadStateNotLoad`), nil when it does
    /// not exist.
    func loadState() async throws -> String? {
        switch try await apiVersion() {
        case .v1:
            guard let info = try await describeV1() else { return nil }
            return info["load"]?.stringValue ?? "unknown"
        case .v2:
            let has = try await callV2("/v2/vectordb/collections/has", ["collectionName": .string(configuration.collection)])
            guard has["has"]?.boolValue == true else { return nil }
            let s = try await callV2("/v2/vectordb/collections/get_load_state", ["collectionName": .string(configuration.collection)])
            return s["loadState"]?.stringValue ?? "unknown"
        }
    }

    /// A read failed with "collection not loaded": load the collection (v2's load call; REST v1 has none, but
    /// Milvus reloads what was loaded by itself after a restart) and wait until it is, up to `loadTimeout`.
    func loadAndWait(after failure: String) async throws {
        let api = try await apiVersion()
        logger.warning("milvus collection not loaded: loading it, then retrying once",
                       metadata: ["collection": "\(configuration.collection)", "error": "\(failure)"])
        let deadline = ContinuousClock.now + configuration.loadTimeout
        var requested = false
        while true {
            let load = try await loadState() ?? "missing"
            if load == "LoadStateLoaded" { return }
            if load == "LoadStateNotLoad", api == .v2, !requested {
                _ = try await callV2("/v2/vectordb/collections/load", ["collectionName": .string(configuration.collection)])
                requested = true
            }
            guard load != "missing" else {
                throw VectorDatabaseError(.server, "milvus: collection '\(configuration.collection)' does not exist")
            }
            guard ContinuousClock.now < deadline else {
                throw VectorDatabaseError(.server, "milvus: collection '\(configuration.collection)' did not load within "
                                          + "\(configuration.loadTimeout) (\(load))"
                                          + (api == .v1 ? "; REST v1 cannot load it, load it with a Milvus client" : ""))
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    private func urlEncoded(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(Unicode.Scalar(b))
            if c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-" || c == ".") {
                out.append(c)
            } else {
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String {
        count >= n ? self : String(repeating: "0", count: n - count) + self
    }
}
