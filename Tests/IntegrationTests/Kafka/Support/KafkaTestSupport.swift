import Foundation
import Logging
import Synchronization
import VectorStreamCore
import VectorStreamGenerator
import VectorStreamKafka

/// Counting stand-ins for the stages around the source, so the Kafka tests exercise Kafka alone.
enum KafkaTestStages {
    /// Shared by the workers of a test, like Redis in production.
    final class MemoryDedup: DedupStore {
        struct Space { var pending = Set<String>(), done = Set<String>() }
        let spaces = Mutex<[DedupNamespace: Space]>([:])
        func claim(_ keys: [String], in namespace: DedupNamespace) async throws -> [ClaimOutcome] {
            spaces.withLock { c in
                keys.map { key in
                    if c[namespace, default: Space()].done.contains(key) { return .done }
                    return c[namespace, default: Space()].pending.insert(key).inserted ? .won : .heldElsewhere
                }
            }
        }
        func confirm(_ keys: [String], in namespace: DedupNamespace) async throws {
            spaces.withLock { c in
                for key in keys {
                    c[namespace, default: Space()].pending.remove(key)
                    c[namespace, default: Space()].done.insert(key)
                }
            }
        }
        func release(_ keys: [String], in namespace: DedupNamespace) async throws {
            spaces.withLock { c in for key in keys { c[namespace]?.pending.remove(key) } }
        }
    }

    /// A deterministic stand-in: the vectors' values do not matter to these tests.
    final class CountingEmbedder: TextEmbedder {
        let modelVersion = "test-model-1"
        let dimension = 4
        let calls = Atomic<Int>(0)
        func embed(_ texts: [String]) async throws -> [[Float]] {
            calls.add(1, ordering: .relaxed)
            return texts.map { _ in [1, 0, 0, 0] }
        }
    }

    final class MemoryVectors: VectorStore {
        let vectors = Mutex<[String: ProductVector]>([:])
        func upsert(_ batch: [ProductVector]) async throws {
            vectors.withLock { v in for p in batch { v[p.productID] = p } }
        }
        func search(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String) async throws -> [SearchHit] { [] }
        func vector(forProduct id: String) async throws -> ProductVector? { vectors.withLock { $0[id] } }
        func contentHashes(forProducts ids: [String]) async throws -> [String: (contentHash: String, modelVersion: String)] {
            vectors.withLock { v in
                var out: [String: (contentHash: String, modelVersion: String)] = [:]
                for id in ids { if let p = v[id] { out[id] = (p.contentHash, p.modelVersion) } }
                return out
            }
        }
        func count() async throws -> Int { vectors.withLock { $0.count } }
    }

    /// Records every stored event id with how often it was stored, and which worker stored it.
    final class RecordingSink: EventSink {
        let stored = Mutex<[String: Int]>([:])
        func store(_ events: [AcceptedEvent]) async throws {
            stored.withLock { s in for e in events { s[e.event.eventID, default: 0] += 1 } }
        }
        var count: Int { stored.withLock { $0.count } }
        var ids: Set<String> { stored.withLock { Set($0.keys) } }
        var duplicates: [String] { stored.withLock { $0.filter { $0.value > 1 }.map(\.key) } }
    }

    /// Counts per worker, wrapping the shared sink.
    final class WorkerSink: EventSink {
        let shared: RecordingSink
        let count = Atomic<Int>(0)
        init(_ shared: RecordingSink) { self.shared = shared }
        func store(_ events: [AcceptedEvent]) async throws {
            try await shared.store(events)
            count.add(events.count, ordering: .relaxed)
        }
    }

    final class RecordingDeadLetters: DeadLetterSink {
        let records = Mutex<[RejectedRecord]>([])
        func store(_ rejected: [RejectedRecord]) async throws { records.withLock { $0 += rejected } }
    }
}

enum KafkaTest {
    static let brokers: String = {
        do {
            return try TestServices.url("kafka", environmentVariable: "VECTORSTREAM_TEST_KAFKA_BROKERS")
        } catch {
            fatalError("kafka broker unavailable: \(error)")
        }
    }()

    static func configuration(topic: String, group: String? = nil, partitions: Int = 3) -> KafkaConfiguration {
        var c = KafkaConfiguration(bootstrapServers: brokers)
        c.topic = topic
        c.deadLetterTopic = topic + "-dlq"
        c.embeddingsReadyTopic = topic + "-embeddings-ready"
        c.fileProcessedTopic = topic + "-file-processed"
        c.groupID = group ?? "group-" + topic
        c.sessionTimeout = .seconds(6)
        c.topicCreation = .init(partitions: partitions, replicationFactor: 1)
        return c
    }

    static func uniqueTopic(_ name: String) -> String {
        "test-\(name)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    static func engineConfiguration(worker: String = "worker-1") -> EngineConfiguration {
        var e = EngineConfiguration()
        e.triggerInterval = .milliseconds(200)
        e.maxEventsPerTrigger = 500
        e.retryInitialBackoff = .milliseconds(20)
        e.workerID = worker
        return e
    }

    static func generated(_ count: Int, seed: UInt64 = 7) -> [GeneratedRecord] {
        var stream = EventGenerator(configuration: GeneratorConfiguration(seed: seed, productCount: 50)).makeStream()
        return (0..<count).map { _ in stream.next() }
    }

    static func produce(_ records: [GeneratedRecord], configuration: KafkaConfiguration) async throws {
        let producer = try KafkaEventProducer(configuration: configuration)
        try await producer.send(records.map { .init(userID: $0.event?.userID, value: $0.bytes) })
        try await producer.flush(timeout: .seconds(20))
    }

    /// Polls `condition` until it holds (true) or `limit` passes (false): a guard against hanging, not a timing.
    static func eventually(_ limit: Duration = .seconds(30), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let end = ContinuousClock.now.advanced(by: limit)
        while ContinuousClock.now < end {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    /// Reads every message of `topic` from the start, until `count` arrived or 20 s passed.
    static func readAll(_ topic: String, count: Int) async throws -> [KafkaConsumerMessage] {
        var c = KafkaConfiguration(bootstrapServers: brokers)
        c.groupID = "reader-" + UUID().uuidString
        c.sessionTimeout = .seconds(6)
        let consumer = try KafkaConsumer(configuration: c, topics: [topic])
        var out: [KafkaConsumerMessage] = []
        let reader = Task {
            var got: [KafkaConsumerMessage] = []
            for try await message in consumer.messages {
                got.append(message)
                if got.count >= count { break }
            }
            return got
        }
        let watchdog = Task {
            try await Task.sleep(for: .seconds(20))
            reader.cancel()
        }
        out = try await reader.value
        watchdog.cancel()
        await consumer.close()
        return out
    }
}
