import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamEmbedder
import VectorStreamGenerator
import VectorStreamServer

/// One API server for the whole suite: the real embedder and embedded stores, filled by the real engine.
struct APIFixture: Sendable {
    let baseURL: String
    let catalog: [Product]
    let events: [Event]
    let embedder: MiniLMEmbedder
    let vectors: EmbeddedVectorIndex
    static let apiKey = "test-key-\(UInt64.random(in: 0...UInt64.max))"

    /// Built once per test process, on first use.
    static let shared = Task { try await APIFixture.make() }

    static func make() async throws -> APIFixture {
        let directory = NSTemporaryDirectory() + "vectorstream-api-\(UUID().uuidString.prefix(8))"
        let database = try EmbeddedDatabase(directory: directory)
        let store = SQLiteEventStore(database: database)
        let vectors = try EmbeddedVectorIndex(database: database)
        let embedder = try MiniLMEmbedder(configuration: MiniLMEmbedder.Configuration())

        // 40 products per category, events stamped over the last half hour.
        var config = GeneratorConfiguration(seed: 21, productCount: 14 * 40, invalidRatio: 0.03)
        config.startTime = wallClockMillis() - 30 * 60_000
        config.millisPerEvent = 300
        let generator = EventGenerator(configuration: config)
        var stream = generator.makeStream()
        let records = (0..<6_000).map { _ in stream.next() }
        let source = LinesSource(records.map(\.bytes))
        var engineConfig = EngineConfiguration()
        engineConfig.triggerInterval = .milliseconds(10)
        engineConfig.maxEventsPerTrigger = 2_000
        // Live state with its history in SQLite, as `demo` has it; the embedder metered for the console.
        let live = SQLiteLiveState(database: database, historyIntervalMillis: 200)
        let metered = MeteredEmbedder(embedder, precision: "fp32", matrixKernel: embedder.layerProducts)
        let engine = MicroBatchEngine(configuration: engineConfig, stages: PipelineStages(
            source: source, dedup: InMemoryDedupStore(), embedder: metered, vectors: vectors, events: store,
            deadLetters: store, liveState: live))
        try await engine.run()
        // One more point a second later, so the history holds an interval after the last batch.
        try await Task.sleep(for: .seconds(1))
        try await live.publish(worker: "worker-1", stats: engine.stats)
        // Products no event mentioned are embedded too, so the whole catalog is searchable.
        let missing = generator.catalog.filter { _ in true }
        let have = try await vectors.contentHashes(forProducts: missing.map(\.id))
        let todo = missing.filter { have[$0.id] == nil }
        if !todo.isEmpty {
            let vs = try await embedder.embed(todo.map(\.embeddingText))
            try await vectors.upsert(zip(todo, vs).map { p, v in
                ProductVector(productID: p.id, vector: v, name: p.name, category: p.category, price: p.price,
                              modelVersion: embedder.modelVersion,
                              contentHash: ContentHash.productRecord(p, modelVersion: embedder.modelVersion), updatedAt: 0)
            })
        }

        let server = APIServer(
            configuration: APIServerConfiguration(host: "127.0.0.1", port: 0, apiKey: apiKey, maxBodyBytes: 8_192),
            dependencies: APIDependencies(embedder: metered, vectors: vectors, analytics: store,
                                          queryCache: InMemoryQueryCache(), liveState: live, health: [store, vectors],
                                          localStats: { engine.stats }, deadLetters: store,
                                          metricsHistory: SnapshotMetricsHistory { from, to, thin, worker in
                                              try database.metricsSnapshots(from: from, to: to, bucketMillis: thin, worker: worker)
                                                  .map { MetricsSnapshot(worker: $0.worker, at: $0.at, stats: $0.stats) }
                                          },
                                          storeSize: { StoreSize(bytesInUse: try? database.bytesInUse(), bytesOnDisk: database.bytesOnDisk()) },
                                          embedderDetails: { metered.details() }))
        let port = AsyncStream<Int>.makeStream()
        let app = server.makeApplication { p in port.continuation.yield(p) }
        Task { try await app.runService() }
        var iterator = port.stream.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw CancellationError() }
        return APIFixture(baseURL: "http://127.0.0.1:\(bound)", catalog: generator.catalog,
                          events: records.compactMap(\.event), embedder: embedder, vectors: vectors)
    }

    struct Reply {
        let status: Int
        let body: [UInt8]
        let contentType: String?
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, contentType: String = "application/json",
                 key: String? = APIFixture.apiKey) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), body: Array(buffer: bytes),
                     contentType: response.headers.first(name: "Content-Type"))
    }

    func get(_ path: String, key: String? = APIFixture.apiKey) async throws -> Reply {
        try await request(.GET, path, key: key)
    }

    func post(_ path: String, json: Any) async throws -> Reply {
        try await request(.POST, path, body: Array(try JSONSerialization.data(withJSONObject: json)))
    }
}

/// Records in memory as a source.
final class LinesSource: EventSource, Sendable {
    private let lines: Mutex<ArraySlice<[UInt8]>>
    private let offset = Mutex<Int64>(0)

    init(_ lines: [[UInt8]]) { self.lines = Mutex(ArraySlice(lines)) }

    func nextBatch(maxRecords: Int, deadline: ContinuousClock.Instant) async throws -> RecordBatch? {
        let batch: [[UInt8]]? = lines.withLock { l in
            guard !l.isEmpty else { return nil }
            let b = Array(l.prefix(maxRecords))
            l = l.dropFirst(b.count)
            return b
        }
        guard let batch else { return nil }
        let start = offset.withLock { o in defer { o += Int64(batch.count) }; return o }
        return RecordBatch(records: batch.enumerated().map {
            RawRecord(bytes: $0.element, position: SourcePosition(topic: "test", partition: 0, offset: start + Int64($0.offset)),
                      arrivalNanos: monotonicNanos())
        }, commitToken: CommitToken())
    }

    func acknowledge(_ token: CommitToken) async throws {}
}
