import Foundation
import Synchronization
import Testing
import VectorStreamCore
import VectorStreamGenerator
import VectorStreamKafka

/// Against a real broker (tansu, started by scripts/services/kafka.sh). Each test has its own topics and group.
@Suite("Kafka against tansu")
struct KafkaPipelineTests {
    typealias S = KafkaTestStages

    @Test("the loaded librdkafka is 2.10 or newer (found through the rpath, not LD_LIBRARY_PATH)")
    func loadedLibraryIsRecentEnough() throws {
        #expect(KafkaLibrary.version >= KafkaLibrary.minimumVersion, "loaded \(KafkaLibrary.versionString)")
        try KafkaLibrary.checkVersion()
    }

    @Test("round trip: produced events are stored once, offsets committed, embeddings_ready announced")
    func roundTrip() async throws {
        let topic = KafkaTest.uniqueTopic("roundtrip")
        let config = KafkaTest.configuration(topic: topic)
        let source = try await KafkaEventSource(configuration: config)
        let records = KafkaTest.generated(300)
        try await KafkaTest.produce(records, configuration: config)

        let sink = S.RecordingSink()
        let dead = S.RecordingDeadLetters()
        let notifier = try KafkaNotifier(configuration: config)
        let engine = MicroBatchEngine(configuration: KafkaTest.engineConfiguration(), stages: PipelineStages(
            source: source, dedup: S.MemoryDedup(), embedder: S.CountingEmbedder(), vectors: S.MemoryVectors(),
            events: sink, deadLetters: dead, notifier: notifier))
        let run = Task { try await engine.run() }
        let stored = await KafkaTest.eventually { sink.count == 300 }
        // Caught up once everything is read; the commit follows the store, so wait for lag 0 too.
        let caughtUp = await KafkaTest.eventually { await source.isCaughtUp() }
        let lagZero = await KafkaTest.eventually { await source.lag().values.allSatisfy { $0 == 0 } }
        let lag = await source.lag()
        run.cancel()
        _ = try? await run.value
        await source.close()

        #expect(stored)
        #expect(sink.ids == Set(records.compactMap { $0.event?.eventID }))
        #expect(sink.duplicates.isEmpty)
        #expect(dead.records.withLock { $0.isEmpty })
        #expect(caughtUp)
        #expect(lagZero, "lag \(lag)")
        #expect(Set(lag.keys.map(\.partition)) == [0, 1, 2])

        let products = Set(records.compactMap { $0.event?.product.id })
        let notices = try await KafkaTest.readAll(config.embeddingsReadyTopic, count: 1)
        let announced = try notices.map { try JSONDecoder().decode(Notice.self, from: Data($0.value)) }
        #expect(!announced.isEmpty)
        #expect(announced.allSatisfy { $0.model_version == "test-model-1" })
        #expect(Set(announced.flatMap(\.product_ids)).isSubset(of: products))
    }

    struct Notice: Decodable {
        var product_ids: [String]
        var model_version: String
        var batch_id: String
        var timestamp: Int64
    }

    @Test("a restarted consumer resumes from the committed offset; an unacknowledged batch is read again")
    func resumeFromCommittedOffset() async throws {
        let topic = KafkaTest.uniqueTopic("resume")
        let config = KafkaTest.configuration(topic: topic, partitions: 1)
        let records = KafkaTest.generated(30)
        try await KafkaAdmin.createConfiguredTopics(config, logger: .init(label: "test"))
        try await KafkaTest.produce(Array(records[0..<20]), configuration: config)

        // First run: read and acknowledge the first 20.
        let first = try await KafkaEventSource(configuration: config)
        let firstOffsets = try await readOffsets(first, count: 20, acknowledge: true)
        #expect(firstOffsets == Array(0..<20))
        await first.close()

        try await KafkaTest.produce(Array(records[20..<30]), configuration: config)

        // Second run: only the 10 new records; read them but do not acknowledge.
        let second = try await KafkaEventSource(configuration: config)
        let secondOffsets = try await readOffsets(second, count: 10, acknowledge: false)
        #expect(secondOffsets == Array(20..<30))
        await second.close()

        // Third run: the unacknowledged 10 come again, nothing before them.
        let third = try await KafkaEventSource(configuration: config)
        let thirdOffsets = try await readOffsets(third, count: 10, acknowledge: true)
        #expect(thirdOffsets == Array(20..<30))
        let lag = await third.lag()
        #expect(lag[TopicPartition(topic: topic, partition: 0)] == 0)
        await third.close()
    }

    @Test("behind a backlog, a batch past its trigger deadline takes what is queued, up to the maximum")
    func backlogFillsTheBatchPastTheDeadline() async throws {
        let topic = KafkaTest.uniqueTopic("backlog")
        let config = KafkaTest.configuration(topic: topic, partitions: 1)
        try await KafkaAdmin.createConfiguredTopics(config, logger: .init(label: "test"))
        try await KafkaTest.produce(KafkaTest.generated(12_000), configuration: config)
        let source = try await KafkaEventSource(configuration: config)
        // Join and let the client prefetch the backlog.
        let first = try #require(try await source.nextBatch(maxRecords: 1, deadline: .now.advanced(by: .seconds(20))))
        #expect(first.records.count == 1)
        let queued = await KafkaTest.eventually(.seconds(10)) { await source.lag().values.reduce(0, +) > 0 }
        #expect(queued)
        try await Task.sleep(for: .seconds(1))
        // The deadline has already passed: no waiting, but more than one poll's worth (4,096) comes back,
        // and never more than asked for.
        let batch = try #require(try await source.nextBatch(maxRecords: 10_000, deadline: .now))
        #expect(batch.records.count > 4_096 && batch.records.count <= 10_000, "got \(batch.records.count)")
        #expect(batch.records.map(\.position.offset) == Array(1..<Int64(1 + batch.records.count)))
        await source.close()
    }

    /// Reads batches until `count` records came (or 30 s passed); returns their offsets in order.
    private func readOffsets(_ source: KafkaEventSource, count: Int, acknowledge: Bool) async throws -> [Int64] {
        var offsets: [Int64] = []
        let end = ContinuousClock.now.advanced(by: .seconds(30))
        while offsets.count < count && ContinuousClock.now < end {
            guard let batch = try await source.nextBatch(maxRecords: count - offsets.count,
                                                         deadline: .now.advanced(by: .milliseconds(200))) else { break }
            offsets += batch.records.map(\.position.offset)
            if acknowledge && !batch.records.isEmpty { try await source.acknowledge(batch.commitToken) }
        }
        return offsets
    }

    @Test("two workers in one group split the partitions and together store every event exactly once")
    func twoWorkersShareTheTopic() async throws {
        let topic = KafkaTest.uniqueTopic("group")
        let config = KafkaTest.configuration(topic: topic, partitions: 4)
        let a = try await KafkaEventSource(configuration: config)
        let b = try await KafkaEventSource(configuration: config)
        let dedup = S.MemoryDedup()
        let vectors = S.MemoryVectors()
        let shared = S.RecordingSink()
        let sinkA = S.WorkerSink(shared), sinkB = S.WorkerSink(shared)
        func engine(_ source: KafkaEventSource, _ sink: S.WorkerSink, _ name: String) -> MicroBatchEngine {
            MicroBatchEngine(configuration: KafkaTest.engineConfiguration(worker: name), stages: PipelineStages(
                source: source, dedup: dedup, embedder: S.CountingEmbedder(), vectors: vectors,
                events: sink, deadLetters: S.RecordingDeadLetters()))
        }
        let runA = Task { try await engine(a, sinkA, "a").run() }
        let runB = Task { try await engine(b, sinkB, "b").run() }
        // Both in the group with a share each before anything is produced.
        let split = await KafkaTest.eventually {
            let pa = a.consumer.assignedPartitions, pb = b.consumer.assignedPartitions
            return !pa.isEmpty && !pb.isEmpty && pa.isDisjoint(with: pb) && pa.union(pb).count == 4
        }
        let assignedA = a.consumer.assignedPartitions, assignedB = b.consumer.assignedPartitions

        let records = KafkaTest.generated(2000, seed: 11)
        try await KafkaTest.produce(records, configuration: config)
        let stored = await KafkaTest.eventually { shared.count == 2000 }
        let caughtUp = await KafkaTest.eventually {
            let ca = await a.isCaughtUp()
            let cb = await b.isCaughtUp()
            return ca && cb
        }
        runA.cancel()
        runB.cancel()
        _ = try? await runA.value
        _ = try? await runB.value
        await a.close()
        await b.close()

        #expect(split, "assignments \(assignedA) / \(assignedB)")
        #expect(stored)
        #expect(caughtUp)
        #expect(shared.ids == Set(records.compactMap { $0.event?.eventID }))
        #expect(shared.duplicates.isEmpty)
        #expect(sinkA.count.load(ordering: .relaxed) > 0)
        #expect(sinkB.count.load(ordering: .relaxed) > 0)
        #expect(sinkA.count.load(ordering: .relaxed) + sinkB.count.load(ordering: .relaxed) == 2000)
    }

    @Test("a batch read before a rebalance is abandoned, not committed; the new owner reads it again")
    func batchFromBeforeARebalanceIsNotCommitted() async throws {
        let topic = KafkaTest.uniqueTopic("rebalance")
        var config = KafkaTest.configuration(topic: topic, partitions: 2)
        config.sessionTimeout = .seconds(4)  // a cooperative rebalance takes two joins
        let a = try await KafkaEventSource(configuration: config)
        let records = KafkaTest.generated(40, seed: 5)
        try await KafkaTest.produce(records, configuration: config)
        let all: Set<TopicPartition> = [TopicPartition(topic: topic, partition: 0), TopicPartition(topic: topic, partition: 1)]

        // Worker a reads everything (both partitions) in one batch, and is still processing it...
        let batch = try #require(try await a.nextBatch(maxRecords: 40, deadline: .now.advanced(by: .seconds(20))))
        try #require(batch.records.count == 40)
        try #require(Set(batch.records.map { TopicPartition(topic: $0.position.topic, partition: $0.position.partition) }) == all)

        // ...when worker b joins and takes a partition over.
        let b = try await KafkaEventSource(configuration: config)
        var (rebalanced, readByB) = try await KafkaEventSource.pollUntil(a, b) { _ in
            a.consumer.assignedPartitions.count == 1 && b.consumer.assignedPartitions.count == 1
        }
        try #require(rebalanced)
        _ = rebalanced
        try await a.acknowledge(batch.commitToken)  // refused: from before the rebalance
        let committed = try await a.consumer.offsets(for: all)
        #expect(committed.values.allSatisfy { $0.committed < 0 }, "\(committed)")

        // b reads its partition from the start: the records a read but did not commit.
        let bPartition = try #require(b.consumer.assignedPartitions.first)
        let expected = batch.records.filter { $0.position.partition == bPartition.partition }.map(\.position.offset)
        let alreadyRead = readByB
        readByB += try await KafkaEventSource.pollUntil(a, b) { alreadyRead.count + $0.count >= expected.count }.readByB
        #expect(readByB.map(\.position.offset) == expected)
        await a.close()
        await b.close()
    }

    @Test("a poison message goes to the dead-letter topic with reason and position; the partition continues")
    func poisonMessageGoesToDeadLetterTopic() async throws {
        let topic = KafkaTest.uniqueTopic("poison")
        let config = KafkaTest.configuration(topic: topic, partitions: 1)
        let source = try await KafkaEventSource(configuration: config)
        let good = KafkaTest.generated(2, seed: 3)
        let poison = Array(#"{"event_id": "broken", "#.utf8)
        let producer = try KafkaEventProducer(configuration: config)
        try await producer.send([.init(key: nil, value: good[0].bytes), .init(key: nil, value: poison),
                                 .init(key: nil, value: good[1].bytes)])
        try await producer.flush()

        let sink = S.RecordingSink()
        let deadLetters = try KafkaDeadLetterSink(configuration: config, workerID: "w-poison")
        let engine = MicroBatchEngine(configuration: KafkaTest.engineConfiguration(), stages: PipelineStages(
            source: source, dedup: S.MemoryDedup(), embedder: S.CountingEmbedder(), vectors: S.MemoryVectors(),
            events: sink, deadLetters: deadLetters))
        let run = Task { try await engine.run() }
        let stored = await KafkaTest.eventually { sink.count == 2 }
        let committed = await KafkaTest.eventually {
            await source.lag()[TopicPartition(topic: topic, partition: 0)] == 0
        }
        run.cancel()
        _ = try? await run.value
        await source.close()

        #expect(stored)
        #expect(committed)
        #expect(sink.ids == Set(good.compactMap { $0.event?.eventID }))
        #expect(engine.stats.eventsRejected == 1)

        let dlq = try await KafkaTest.readAll(config.deadLetterTopic, count: 1)
        try #require(dlq.count == 1)
        let record = dlq[0]
        func header(_ name: String) -> String? { record.header(name).map { String(decoding: $0, as: UTF8.self) } }
        #expect(record.value == poison)
        #expect(header(KafkaDeadLetterSink.reasonCodeHeader) == "not_json")
        #expect(header(KafkaDeadLetterSink.reasonHeader)?.hasPrefix("not JSON") == true)
        #expect(header(KafkaDeadLetterSink.sourceTopicHeader) == topic)
        #expect(header(KafkaDeadLetterSink.sourcePartitionHeader) == "0")
        #expect(header(KafkaDeadLetterSink.sourceOffsetHeader) == "1")
        #expect(header(KafkaDeadLetterSink.workerHeader) == "w-poison")
    }

    @Test("a 1.1 MB poison record goes to the dead-letter topic shortened, with its size and hash; intake goes on (F2)")
    func oversizedPoisonRecordDoesNotStallIntake() async throws {
        let topic = KafkaTest.uniqueTopic("oversized")
        let config = KafkaTest.configuration(topic: topic, partitions: 1)
        let source = try await KafkaEventSource(configuration: config)
        let good = KafkaTest.generated(3, seed: 5)
        // Not JSON and over every limit: 1.1 MB. The broker takes it from a producer that allows large messages;
        // the dead-letter producer keeps librdkafka's default 1 MB limit, which refused it whole before.
        let poison = [UInt8](repeating: UInt8(ascii: "x"), count: 1_100_000)
        var big = config
        big.properties["message.max.bytes"] = "4000000"
        let producer = try KafkaEventProducer(configuration: big)
        try await producer.send([.init(key: nil, value: good[0].bytes), .init(key: nil, value: poison),
                                 .init(key: nil, value: good[1].bytes), .init(key: nil, value: good[2].bytes)])
        try await producer.flush()

        let sink = S.RecordingSink()
        let deadLetters = try KafkaDeadLetterSink(configuration: config, workerID: "w-big")
        let engine = MicroBatchEngine(configuration: KafkaTest.engineConfiguration(), stages: PipelineStages(
            source: source, dedup: S.MemoryDedup(), embedder: S.CountingEmbedder(), vectors: S.MemoryVectors(),
            events: sink, deadLetters: deadLetters))
        let run = Task { try await engine.run() }
        let stored = await KafkaTest.eventually { sink.count == 3 }
        let committed = await KafkaTest.eventually {
            await source.lag()[TopicPartition(topic: topic, partition: 0)] == 0
        }
        run.cancel()
        _ = try? await run.value
        await source.close()

        #expect(stored, "the events after the poison record are stored")
        #expect(committed)
        #expect(engine.stats.eventsRejected == 1)

        let dlq = try await KafkaTest.readAll(config.deadLetterTopic, count: 1)
        try #require(dlq.count == 1)
        let record = dlq[0]
        func header(_ name: String) -> String? { record.header(name).map { String(decoding: $0, as: UTF8.self) } }
        #expect(record.value.count == deadLetters.maxPayloadBytes)
        #expect(record.value == Array(poison.prefix(deadLetters.maxPayloadBytes)))
        #expect(header(KafkaDeadLetterSink.reasonCodeHeader) == "record_too_large")
        #expect(header(KafkaDeadLetterSink.truncatedHeader) == "true")
        #expect(header(KafkaDeadLetterSink.originalBytesHeader) == "1100000")
        #expect(header(KafkaDeadLetterSink.originalSHA256Header) == ContentHash.sha256Hex(poison))
        #expect(header(KafkaDeadLetterSink.sourceOffsetHeader) == "1")
    }

    @Test("events produced by confluent-kafka (Python, a client we did not write) are stored")
    func foreignProducerEventsAreStored() async throws {
        let topic = KafkaTest.uniqueTopic("foreign")
        let config = KafkaTest.configuration(topic: topic)
        let source = try await KafkaEventSource(configuration: config)
        let count = 100
        let script = """
        import json, sys
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": sys.argv[1], "enable.idempotence": True})
        for i in range(int(sys.argv[3])):
            e = {"event_id": f"py-{i}", "timestamp": "2026-01-15T10:30:00Z", "user_id": f"u-{i % 7}",
                 "event_type": "view", "session_id": f"s-{i % 7}",
                 "product": {"id": f"p-{i % 5}", "name": f"Mug {i % 5}", "description": "A mug.",
                             "category": "Kitchen", "price": 9.5}}
            p.produce(sys.argv[2], key=e["user_id"], value=json.dumps(e).encode())
        assert p.flush(20) == 0
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, KafkaTest.brokers, topic, String(count)]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python producer failed")

        let sink = S.RecordingSink()
        let engine = MicroBatchEngine(configuration: KafkaTest.engineConfiguration(), stages: PipelineStages(
            source: source, dedup: S.MemoryDedup(), embedder: S.CountingEmbedder(), vectors: S.MemoryVectors(),
            events: sink, deadLetters: S.RecordingDeadLetters()))
        let run = Task { try await engine.run() }
        let stored = await KafkaTest.eventually { sink.count == count }
        run.cancel()
        _ = try? await run.value
        await source.close()
        #expect(stored)
        #expect(sink.ids == Set((0..<count).map { "py-\($0)" }))
    }

    @Test("the consumer's messages as an AsyncSequence, and the configuration from the settings")
    func messagesSequenceAndSettings() async throws {
        var settings = VectorStreamConfiguration().kafka
        #expect(throws: KafkaError.self) { try KafkaConfiguration(settings: settings) }
        settings.brokers = KafkaTest.brokers
        settings.topic = KafkaTest.uniqueTopic("sequence")
        settings.createTopics = true
        settings.partitions = 2
        settings.properties = ["sasl.password": "do-not-log-me", "socket.keepalive.enable": "true"]
        let config = try KafkaConfiguration(settings: settings)
        #expect(config.topicCreation == KafkaConfiguration.TopicCreation(partitions: 2, replicationFactor: 1))

        // A property librdkafka refuses names the property, never its value.
        var bad = config
        bad.properties["security.protocol"] = "SECRET-VALUE"
        #expect {
            _ = try KafkaConsumer(configuration: bad)
        } throws: { error in
            "\(error)".contains("security.protocol") && !"\(error)".contains("SECRET-VALUE")
        }

        try await KafkaAdmin.createConfiguredTopics(config, logger: .init(label: "test"))
        try await KafkaAdmin.createConfiguredTopics(config, logger: .init(label: "test"))  // exists: no error
        try await KafkaTest.produce(KafkaTest.generated(5), configuration: config)
        let messages = try await KafkaTest.readAll(settings.topic, count: 5)
        #expect(messages.count == 5)
        #expect(messages.allSatisfy { $0.key != nil && $0.timestamp != nil })
    }
}

extension KafkaEventSource {
    /// Polls both workers (a rebalance completes only while its members poll) until `done` or 20 s.
    static func pollUntil(_ a: KafkaEventSource, _ b: KafkaEventSource,
                          _ done: ([RawRecord]) -> Bool) async throws -> (done: Bool, readByB: [RawRecord]) {
        let end = ContinuousClock.now.advanced(by: .seconds(20))
        var readByB: [RawRecord] = []
        while !done(readByB) && ContinuousClock.now < end {
            async let polledA = a.nextBatch(maxRecords: 100, deadline: .now.advanced(by: .milliseconds(100)))
            async let polledB = b.nextBatch(maxRecords: 100, deadline: .now.advanced(by: .milliseconds(100)))
            let (fromA, fromB) = try await (polledA, polledB)
            #expect(fromA?.records.isEmpty ?? true, "a has nothing new to read")
            readByB += fromB?.records ?? []
        }
        return (done(readByB), readByB)
    }
}
