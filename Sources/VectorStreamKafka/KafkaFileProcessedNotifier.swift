import Foundation
import Logging
import VectorStreamCore

/// `file_processed` notices on Kafka (topic `kafka.file_processed_topic`), one JSON object per processed file,
/// keyed by the file's SHA-256 (so notices of one file stay in order on one partition):
/// `{"sha256", "object_key", "name", "kind", "status", "rows_accepted", "rows_rejected", "products_embedded",
/// "events_stored", "model_version", "duration_ms", "timestamp"}`. `send` returns once the broker acknowledged it.
public final class KafkaFileProcessedNotifier: FileProcessedNotifier {
    public let topic: String
    private let producer: KafkaProducer

    public init(configuration: KafkaConfiguration, logger: Logger = Logger(label: "vectorstream.kafka.files")) throws {
        topic = configuration.fileProcessedTopic
        producer = try KafkaProducer(configuration: configuration, lingerMillis: 5, logger: logger)
    }

    /// The message's bytes: snake_case keys, sorted.
    public static func encode(_ notice: FileProcessed) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array(try encoder.encode(notice))
    }

    public func fileProcessed(_ notice: FileProcessed) async throws {
        try await producer.send([KafkaOutgoingMessage(topic: topic, key: Array(notice.sha256.utf8), value: try Self.encode(notice))])
    }
}
