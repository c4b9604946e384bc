import CRdKafka
import Dispatch
import Logging

/// Topic management at start.
public enum KafkaAdmin {
    /// Creates the topics that do not exist yet; a topic that already exists counts as success
    /// (several workers start at once, and a restart finds its topics there).
    public static func createTopics(_ names: [String], partitions: Int, replicationFactor: Int,
                                    configuration: KafkaConfiguration,
                                    logger: Logger = Logger(label: "vectorstream.kafka.admin")) async throws {
        guard !names.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    try createTopicsBlocking(Array(Set(names)).sorted(), partitions: partitions,
                                             replicationFactor: replicationFactor,
                                             configuration: configuration, logger: logger)
                })
            }
        }
    }

    /// Creates the configured topics (raw events, dead letter, embeddings_ready, file_processed) when
    /// `topicCreation` is set; does nothing otherwise.
    public static func createConfiguredTopics(_ configuration: KafkaConfiguration, logger: Logger) async throws {
        guard let creation = configuration.topicCreation else { return }
        try await createTopics([configuration.topic, configuration.deadLetterTopic, configuration.embeddingsReadyTopic,
                                configuration.fileProcessedTopic],
                               partitions: creation.partitions, replicationFactor: creation.replicationFactor,
                               configuration: configuration, logger: logger)
    }

    /// Asks the bootstrap servers for cluster metadata and waits at most `timeout` for the answer; throws when
    /// none comes (unreachable, refused, name not resolved, authentication failed). Made before anything else
    /// connects, so an unreachable broker is one clear error in seconds rather than minutes of client retries.
    public static func checkReachable(_ configuration: KafkaConfiguration, timeout: Duration = .seconds(8),
                                      logger: Logger = Logger(label: "vectorstream.kafka.admin")) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    try checkReachableBlocking(configuration, timeout: timeout, logger: logger)
                })
            }
        }
    }

    private static func checkReachableBlocking(_ configuration: KafkaConfiguration, timeout: Duration,
                                               logger: Logger) throws {
        let handle = try RdKafkaHandle(role: .producer, properties: configuration.adminProperties,
                                       context: ClientContext(logger: logger))
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle.pointer, 0, nil, &metadata, Int32(clamping: max(timeout.milliseconds, 1)))
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let reason = err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT
                ? "no answer within \(timeout)" : "metadata request failed"
            throw KafkaError(.client, reason, error: err)
        }
    }

    private static func createTopicsBlocking(_ names: [String], partitions: Int, replicationFactor: Int,
                                             configuration: KafkaConfiguration, logger: Logger) throws {
        let handle = try RdKafkaHandle(role: .producer, properties: configuration.adminProperties,
                                       context: ClientContext(logger: logger))
        let rk = handle.pointer
        var errorBuffer = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for name in names {
            guard let topic = rd_kafka_NewTopic_new(name, Int32(partitions), Int32(replicationFactor),
                                                    &errorBuffer, errorBuffer.count) else {
                throw KafkaError(.topicCreation, "topic \(name): \(RdKafkaHandle.string(errorBuffer))")
            }
            newTopics.append(topic)
        }
        let resultQueue = rd_kafka_queue_new(rk)
        defer { rd_kafka_queue_destroy(resultQueue) }
        let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, 15_000, &errorBuffer, errorBuffer.count)
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(rk, buffer.baseAddress, buffer.count, options, resultQueue)
        }
        guard let event = rd_kafka_queue_poll(resultQueue, 20_000) else {
            throw KafkaError(.topicCreation, "no answer to CreateTopics within 20 s from \(configuration.bootstrapServers)")
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.topicCreation, "create topics \(names)", error: err)
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(.topicCreation, "unexpected answer to CreateTopics")
        }
        var count = 0
        guard let topics = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for i in 0..<count {
            let topic = topics[i]
            let name = String(cString: rd_kafka_topic_result_name(topic))
            let topicErr = rd_kafka_topic_result_error(topic)
            switch topicErr {
            case RD_KAFKA_RESP_ERR_NO_ERROR:
                logger.info("kafka topic created", metadata: [
                    "topic": "\(name)", "partitions": "\(partitions)", "replication_factor": "\(replicationFactor)",
                ])
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
                logger.debug("kafka topic already exists", metadata: ["topic": "\(name)"])
            default:
                let text = rd_kafka_topic_result_error_string(topic).map { String(cString: $0) } ?? ""
                throw KafkaError(.topicCreation, "topic \(name): \(text)", code: topicErr.rawValue)
            }
        }
    }
}
