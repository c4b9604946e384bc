import Foundation
import Logging
import VectorStreamCore

/// Rejected records to the dead-letter topic: the raw bytes as they came, and in headers the reason and the
/// source topic, partition and offset, so a record can be found, fixed and replayed.
///
/// `store` returns only after the brokers acknowledged every record (idempotent producer, acks=all), so the
/// engine never commits past a record that is in neither the sinks nor the dead-letter topic.
///
/// A dead letter must always be storable, or one poison record stops intake for good. A record larger than
/// `maxPayloadBytes` goes with its first `maxPayloadBytes` bytes and headers that say so (original size, the
/// SHA-256 of the whole record); if the topic still refuses (its `max.message.bytes` is smaller), the batch's
/// dead letters go again as short excerpts, and if even those are refused, to the `fallback` sink (the local
/// dead-letter file), loudly.
public final class KafkaDeadLetterSink: DeadLetterSink {
    public static let reasonHeader = "vectorstream.reason"
    public static let reasonCodeHeader = "vectorstream.reason_code"
    public static let sourceTopicHeader = "vectorstream.source_topic"
    public static let sourcePartitionHeader = "vectorstream.source_partition"
    public static let sourceOffsetHeader = "vectorstream.source_offset"
    public static let workerHeader = "vectorstream.worker"
    /// Present on a shortened record: "true".
    public static let truncatedHeader = "vectorstream.truncated"
    /// The size of the record as it came, in bytes (on a shortened record).
    public static let originalBytesHeader = "vectorstream.original_bytes"
    /// Hex SHA-256 of the record as it came (on a shortened record).
    public static let originalSHA256Header = "vectorstream.original_sha256"
    /// How much of a record goes when the topic refused even the shortened one.
    public static let excerptBytes = 4096

    public let topic: String
    /// Largest payload sent as it is. Default 900,000 bytes: under librdkafka's and Kafka's 1 MB message limit
    /// with room for the headers.
    public let maxPayloadBytes: Int
    private let producer: KafkaProducer
    private let workerID: String
    private let fallback: (any DeadLetterSink)?
    private let logger: Logger

    public init(configuration: KafkaConfiguration, workerID: String = "worker-1", maxPayloadBytes: Int = 900_000,
                fallback: (any DeadLetterSink)? = nil,
                logger: Logger = Logger(label: "vectorstream.kafka.dead-letter")) throws {
        topic = configuration.deadLetterTopic
        self.workerID = workerID
        self.maxPayloadBytes = max(maxPayloadBytes, Self.excerptBytes)
        self.fallback = fallback
        self.logger = logger
        producer = try KafkaProducer(configuration: configuration, lingerMillis: 5, logger: logger)
    }

    public func store(_ rejected: [RejectedRecord]) async throws {
        do {
            try await producer.send(rejected.map { message($0, maxPayload: maxPayloadBytes) })
        } catch let error as KafkaError where error.failureClass == .permanent {
            logger.error("dead-letter topic refused records; sending excerpts of \(Self.excerptBytes) bytes instead",
                         metadata: ["topic": "\(topic)", "error": "\(error)"])
            do {
                try await producer.send(rejected.map { message($0, maxPayload: Self.excerptBytes) })
            } catch let again as KafkaError where again.failureClass == .permanent {
                guard let fallback else { throw again }
                logger.critical("dead-letter topic refuses even excerpts; these dead letters are kept in the local dead-letter store instead",
                                metadata: ["topic": "\(topic)", "records": "\(rejected.count)", "error": "\(again)"])
                try await fallback.store(rejected)
            }
        }
    }

    func message(_ record: RejectedRecord, maxPayload: Int) -> KafkaOutgoingMessage {
        var headers = [
            KafkaHeader(Self.reasonHeader, record.reason.description),
            KafkaHeader(Self.reasonCodeHeader, record.reason.code),
            KafkaHeader(Self.sourceTopicHeader, record.position.topic),
            KafkaHeader(Self.sourcePartitionHeader, String(record.position.partition)),
            KafkaHeader(Self.sourceOffsetHeader, String(record.position.offset)),
            KafkaHeader(Self.workerHeader, workerID),
        ]
        guard record.raw.count > maxPayload else {
            return KafkaOutgoingMessage(topic: topic, value: record.raw, headers: headers)
        }
        headers.append(KafkaHeader(Self.truncatedHeader, "true"))
        headers.append(KafkaHeader(Self.originalBytesHeader, String(record.raw.count)))
        headers.append(KafkaHeader(Self.originalSHA256Header, ContentHash.sha256Hex(record.raw)))
        return KafkaOutgoingMessage(topic: topic, value: Array(record.raw.prefix(maxPayload)), headers: headers)
    }
}

/// `embeddings_ready` notices, one JSON message per batch that embedded products, keyed by batch id:
/// `{"product_ids":[...],"model_version":"...","batch_id":"...","timestamp":1700000000000}`.
public final class KafkaNotifier: Notifier {
    public let topic: String
    public let fileProcessedTopic: String
    private let producer: KafkaProducer
    private let encoder: JSONEncoder

    public init(configuration: KafkaConfiguration, logger: Logger = Logger(label: "vectorstream.kafka.notifier")) throws {
        topic = configuration.embeddingsReadyTopic
        fileProcessedTopic = configuration.fileProcessedTopic
        producer = try KafkaProducer(configuration: configuration, lingerMillis: 5, logger: logger)
        encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
    }

    /// The wire form, snake_case (`convertToSnakeCase` would write `product_i_ds`).
    struct Message: Encodable {
        var product_ids: [String]
        var model_version: String
        var batch_id: String
        var timestamp: EpochMillis
    }

    public func embeddingsReady(_ notice: EmbeddingsReady) async throws {
        let value = try encoder.encode(Message(product_ids: notice.productIDs, model_version: notice.modelVersion,
                                               batch_id: notice.batchID, timestamp: notice.timestamp))
        try await producer.send([KafkaOutgoingMessage(topic: topic, key: Array(notice.batchID.utf8), value: Array(value))])
    }

    /// Announces an ingested file on the `file_processed` topic (JSON given by the caller), keyed by `key`.
    public func fileProcessed(key: String, json: [UInt8]) async throws {
        try await producer.send([KafkaOutgoingMessage(topic: fileProcessedTopic, key: Array(key.utf8), value: json)])
    }
}

/// Bulk production of events (`vectorstream generate --kafka`, `bench kafka`): JSON lines keyed by user id,
/// so one user's events stay in order on one partition.
///
/// `send` returns once the records are enqueued; when librdkafka's local queue is full it serves delivery
/// reports until there is room (backpressure) instead of failing. `flush` waits for every delivery.
public final class KafkaEventProducer: Sendable {
    public struct Record: Sendable, Hashable {
        public var key: [UInt8]?
        public var value: [UInt8]
        public init(key: [UInt8]?, value: [UInt8]) {
            self.key = key
            self.value = value
        }
        public init(userID: String?, value: [UInt8]) {
            self.init(key: userID.map { Array($0.utf8) }, value: value)
        }
    }

    public let topic: String
    private let producer: KafkaProducer

    /// - Parameter topic: defaults to the configuration's raw-events topic.
    public init(configuration: KafkaConfiguration, topic: String? = nil,
                logger: Logger = Logger(label: "vectorstream.kafka.event-producer")) throws {
        self.topic = topic ?? configuration.topic
        // Larger batches: bulk throughput matters more here than a notice's latency.
        producer = try KafkaProducer(configuration: configuration, lingerMillis: 20, extraProperties: [
            ("batch.num.messages", "10000"),
            ("queue.buffering.max.messages", "500000"),
        ], logger: logger)
    }

    /// Enqueues the records; the message timestamp is the moment of producing (CreateTime).
    public func send(_ records: [Record]) async throws {
        try await producer.enqueue(records.map { KafkaOutgoingMessage(topic: topic, key: $0.key, value: $0.value) })
    }

    /// Waits for every enqueued record's delivery; throws on the first failure or on timeout.
    public func flush(timeout: Duration = .seconds(60)) async throws {
        try await producer.flush(timeout: timeout)
    }

    public var delivered: Int64 { producer.deliveryCounts.delivered }
    public var failed: Int64 { producer.deliveryCounts.failed }
}
