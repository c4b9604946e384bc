import Foundation
import Synchronization
import VectorStreamCore

/// Deterministic JSON-lines events over a fixed catalog; some event ids repeat on purpose (redelivery).
struct TestEventStream {
    let records: [[UInt8]]
    let uniqueEventIDs: Set<String>
    let productTexts: Set<String>

    init(events: Int, products: Int, duplicateEvery: Int = 50) {
        var records: [[UInt8]] = []
        records.reserveCapacity(events)
        var ids = Set<String>()
        var texts = Set<String>()
        let types = ["view", "view", "view", "add_to_cart", "purchase", "wishlist_add"]
        for n in 0..<events {
            // Every `duplicateEvery`-th record re-sends an earlier event id (same content).
            let id = (n % duplicateEvery == duplicateEvery - 1 && n > 1000) ? n - 997 : n
            let p = (id &* 7919) % products
            let product = Product(id: "p-\(p)", name: "Product \(p)", description: "Description of product \(p), item \(p % 13)",
                                  category: "category-\(p % 17)", price: Double(p % 500) + 0.99)
            texts.insert(product.embeddingText)
            ids.insert("evt-\(id)")
            let json = #"{"event_id":"evt-\#(id)","timestamp":"2024-05-01T12:\#(String(format: "%02d", id / 60 % 60)):\#(String(format: "%02d", id % 60)).000Z","user_id":"u-\#(id % 997)","event_type":"\#(types[id % types.count])","product":{"id":"\#(product.id)","name":"\#(product.name)","description":"\#(product.description)","category":"\#(product.category)","price":\#(product.price)},"session_id":"s-\#(id / 20)"}"#
            records.append(Array(json.utf8))
        }
        self.records = records
        self.uniqueEventIDs = ids
        self.productTexts = texts
    }
}

/// Reads the stream once, in batches; acknowledgements are counted.
final class ArraySource: EventSource {
    private let records: [[UInt8]]
    private let cursor = Mutex(0)
    let acknowledged = Atomic<Int>(0)

    init(records: [[UInt8]]) {
        self.records = records
    }

    func nextBatch(maxRecords: Int, deadline: ContinuousClock.Instant) async throws -> RecordBatch? {
        let range: Range<Int>? = cursor.withLock { c in
            guard c < records.count else { return nil }
            let end = min(c + maxRecords, records.count)
            defer { c = end }
            return c..<end
        }
        guard let range else { return nil }
        let now = monotonicNanos()
        let batch = range.map { RawRecord(bytes: records[$0], position: SourcePosition(topic: "test", partition: 0, offset: Int64($0)),
                                          arrivalNanos: now) }
        return RecordBatch(records: batch, commitToken: CommitToken(nextOffsets: [TopicPartition(topic: "test", partition: 0): Int64(range.upperBound)]))
    }

    func acknowledge(_ token: CommitToken) async throws {
        acknowledged.add(1, ordering: .relaxed)
    }
}

/// Records which worker stored each event and how often. A real sink is idempotent; this one tells apart a
/// replay by the same worker (its batch failed after storing) from a true duplicate across workers.
final class CountingEventSink: Sendable {
    struct Entry { var worker: String; var stores: Int }
    private let entries = Mutex<[String: Entry]>([:])
    let crossWorkerDuplicates = Atomic<Int>(0)
    let sameWorkerReplays = Atomic<Int>(0)

    func sink(for worker: String) -> WorkerSink { WorkerSink(worker: worker, shared: self) }

    func record(_ events: [AcceptedEvent], worker: String) {
        entries.withLock { entries in
            for event in events {
                let id = event.event.eventID
                if let existing = entries[id] {
                    if existing.worker == worker { sameWorkerReplays.add(1, ordering: .relaxed) }
                    else { crossWorkerDuplicates.add(1, ordering: .relaxed) }
                    entries[id]!.stores += 1
                } else {
                    entries[id] = Entry(worker: worker, stores: 1)
                }
            }
        }
    }

    var storedIDs: Set<String> { entries.withLock { Set($0.keys) } }
    var count: Int { entries.withLock { $0.count } }
    func perWorker() -> [String: Int] {
        entries.withLock { entries in entries.values.reduce(into: [:]) { $0[$1.worker, default: 0] += 1 } }
    }

    struct WorkerSink: EventSink {
        let worker: String
        let shared: CountingEventSink
        func store(_ events: [AcceptedEvent]) async throws { shared.record(events, worker: worker) }
    }
}

/// Deterministic unit vectors from a text's hash; counts how often each text was embedded.
final class CountingEmbedder: TextEmbedder {
    let modelVersion = "test-hash-embedder-v1"
    let dimension = 8
    private let counts = Mutex<[String: Int]>([:])

    func embed(_ texts: [String]) async throws -> [[Float]] {
        counts.withLock { for text in texts { $0[text, default: 0] += 1 } }
        return texts.map(Self.vector)
    }

    static func vector(_ text: String) -> [Float] {
        var state: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { state = (state ^ UInt64(byte)) &* 0x100_0000_01b3 }
        var v = (0..<8).map { i -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407 &+ UInt64(i)
            return Float(Int64(bitPattern: state >> 11) % 1000) / 1000 + 0.001
        }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        v = v.map { $0 / norm }
        return v
    }

    var embedCounts: [String: Int] { counts.withLock { $0 } }
}

/// A shared in-memory vector store, standing in for the vector database both workers write to.
final class MemoryVectorStore: VectorStore {
    private let vectors = Mutex<[String: ProductVector]>([:])

    func upsert(_ records: [ProductVector]) async throws {
        vectors.withLock { for r in records { $0[r.productID] = r } }
    }

    func search(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String) async throws -> [SearchHit] { [] }

    func vector(forProduct id: String) async throws -> ProductVector? { vectors.withLock { $0[id] } }

    func contentHashes(forProducts ids: [String]) async throws -> [String: (contentHash: String, modelVersion: String)] {
        vectors.withLock { stored in
            var result: [String: (contentHash: String, modelVersion: String)] = [:]
            for id in ids { if let v = stored[id] { result[id] = (v.contentHash, v.modelVersion) } }
            return result
        }
    }

    func count() async throws -> Int { vectors.withLock { $0.count } }
}

final class CollectingDeadLetters: DeadLetterSink {
    let count = Atomic<Int>(0)
    func store(_ rejected: [RejectedRecord]) async throws { count.add(rejected.count, ordering: .relaxed) }
}
