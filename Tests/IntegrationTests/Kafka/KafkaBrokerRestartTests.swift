import Foundation
import Testing
import VectorStreamKafka

/// RELIABILITY.md finding 5: after a broker restart an idempotent producer whose producer id the broker forgot
/// never delivered again, so every dead letter and notice of the worker failed for good. The producer must
/// replace its client and deliver once the broker is back.
///
/// A broker of its own (port 19392, under .run/broker-restart), because the test stops and restarts it.
@Suite("Kafka producer across a broker restart", .serialized)
struct KafkaBrokerRestartTests {
    static let port = "19392"
    static let environment = ["VECTORSTREAM_KAFKA_PORT": port,
                              "VECTORSTREAM_RUN_DIR": TestServices.repoRoot.appendingPathComponent(".run/broker-restart").path]

    static func broker(_ command: String) throws -> String {
        try TestServices.run(script: "scripts/services/kafka.sh", arguments: [command], environment: environment)
    }

    @Test("a producer delivers again after the broker restarted (tansu forgets producer ids and topics)")
    func producerRecoversAfterRestart() async throws {
        let brokers = try Self.broker("start")
        defer { _ = try? Self.broker("stop") }
        let topic = "restart-\(UUID().uuidString.prefix(8))"
        var configuration = KafkaConfiguration(bootstrapServers: brokers)
        configuration.deliveryTimeout = .seconds(4)
        try await KafkaAdmin.createTopics([topic], partitions: 1, replicationFactor: 1, configuration: configuration)
        let producer = try KafkaProducer(configuration: configuration)
        let message = { (n: Int) in KafkaOutgoingMessage(topic: topic, value: Array("message \(n)".utf8)) }
        try await producer.send([message(1)])

        _ = try Self.broker("stop")
        _ = try Self.broker("start")
        // A real broker keeps its topics; tansu (memory storage) does not, so the test creates it again.
        try await KafkaAdmin.createTopics([topic], partitions: 1, replicationFactor: 1, configuration: configuration)

        // The first sends may fail while the client notices the restart; within a few attempts one must deliver.
        var delivered = false
        var errors: [String] = []
        for attempt in 2...8 where !delivered {
            do {
                try await producer.send([message(attempt)])
                delivered = true
            } catch {
                errors.append("\(error)")
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        #expect(delivered, "no delivery after the restart: \(errors)")
        // And it keeps delivering.
        if delivered { try await producer.send([message(100), message(101)]) }
    }
}
