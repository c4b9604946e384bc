import VectorStreamCore

/// Everything the Kafka clients need, typed, with the defaults the pipeline relies on.
///
/// Built from `VectorStreamConfiguration.KafkaSettings` with ``init(settings:clientID:)``; `properties` are
/// handed to librdkafka last, so they can override anything (SASL, SSL, tuning). Their values are never logged.
public struct KafkaConfiguration: Sendable, Hashable {
    /// Comma-separated `host:port` bootstrap servers.
    public var bootstrapServers: String
    /// Raw events. Default `ecommerce-events`.
    public var topic: String = "ecommerce-events"
    /// Rejected records, whole, with their reason in headers. Default `ecommerce-events-dlq`.
    public var deadLetterTopic: String = "ecommerce-events-dlq"
    /// One message per batch that embedded products. Default `embeddings_ready`.
    public var embeddingsReadyTopic: String = "embeddings_ready"
    /// One message per ingested file. Default `file_processed`.
    public var fileProcessedTopic: String = "file_processed"
    /// Workers with the same group share the topic's partitions. Default `vectorstream`.
    public var groupID: String = "vectorstream"
    /// Names this client in broker logs and metrics. Default `vectorstream`.
    public var clientID: String = "vectorstream"
    /// Topics to create at start when missing; nil leaves topic management to the operator.
    public var topicCreation: TopicCreation? = TopicCreation()
    /// How long the group waits for a silent worker before moving its partitions. A join waits about half
    /// of it, so tests use a short one. Default 10 s.
    public var sessionTimeout: Duration = .seconds(10)
    /// `cooperative-sticky` (default): a rebalance moves only the partitions that change owner, so the other
    /// workers keep going. `range` or `roundrobin` select eager rebalancing (everything is revoked first).
    public var assignmentStrategy: String = "cooperative-sticky"
    /// Where a new group starts reading: `earliest` (default: nothing already in the topic is skipped) or `latest`.
    public var autoOffsetReset: String = "earliest"
    /// Take a record's arrival time from its Kafka timestamp (set by the producer) instead of the moment the
    /// consumer read it, so the engine's latency is produce-to-stored. Needs clocks in step; default false.
    public var latencyFromMessageTimestamp: Bool = false
    /// How long a dead-letter or notification send waits for its delivery reports. Default 30 s.
    public var deliveryTimeout: Duration = .seconds(30)
    /// librdkafka properties applied last, as given.
    public var properties: [String: String] = [:]

    /// Partitions and replication of topics created at start.
    public struct TopicCreation: Sendable, Hashable {
        public var partitions: Int = 3
        public var replicationFactor: Int = 1
        public init(partitions: Int = 3, replicationFactor: Int = 1) {
            self.partitions = partitions
            self.replicationFactor = replicationFactor
        }
    }

    public init(bootstrapServers: String) {
        self.bootstrapServers = bootstrapServers
    }

    /// From the application settings; throws when no brokers are set.
    public init(settings: VectorStreamConfiguration.KafkaSettings, clientID: String = "vectorstream") throws {
        guard let brokers = settings.brokers?.trimmingCharacters(in: " "), !brokers.isEmpty else {
            throw KafkaError(.configuration, "kafka.brokers (VECTORSTREAM_KAFKA_BROKERS) is not set")
        }
        self.init(bootstrapServers: brokers)
        topic = settings.topic
        deadLetterTopic = settings.deadLetterTopic
        embeddingsReadyTopic = settings.embeddingsReadyTopic
        fileProcessedTopic = settings.fileProcessedTopic
        groupID = settings.groupID
        self.clientID = clientID
        topicCreation = settings.createTopics
            ? TopicCreation(partitions: settings.partitions, replicationFactor: settings.replicationFactor) : nil
        sessionTimeout = .milliseconds(settings.sessionTimeoutMillis)
        properties = settings.properties
    }

    var sessionTimeoutMillis: Int {
        Int(sessionTimeout.components.seconds * 1000 + sessionTimeout.components.attoseconds / 1_000_000_000_000_000)
    }

    /// The consumer's librdkafka properties: offsets are stored and committed only by ``KafkaEventSource``.
    var consumerProperties: [(String, String)] {
        let session = max(sessionTimeoutMillis, 1000)
        return [
            ("bootstrap.servers", bootstrapServers),
            ("client.id", clientID),
            ("group.id", groupID),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
            ("auto.offset.reset", autoOffsetReset),
            ("session.timeout.ms", String(session)),
            ("heartbeat.interval.ms", String(max(100, min(3000, session / 3)))),
            ("partition.assignment.strategy", assignmentStrategy),
        ] + passThrough
    }

    /// The producer's properties: idempotent, so retries never duplicate or reorder a dead letter.
    /// `extra` (tuning by the caller) comes before the pass-through properties, which always win.
    func producerProperties(lingerMillis: Int, extra: [(String, String)] = []) -> [(String, String)] {
        [
            ("bootstrap.servers", bootstrapServers),
            ("client.id", clientID),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", String(lingerMillis)),
        ] + extra + passThrough
    }

    /// Admin client properties: connection settings (SASL, SSL) are shared with the other clients.
    var adminProperties: [(String, String)] {
        [("bootstrap.servers", bootstrapServers), ("client.id", clientID)] + passThrough
    }

    private var passThrough: [(String, String)] {
        properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
