/// The whole effective configuration: defaults, then the YAML file, then `VECTORSTREAM_...` variables.
///
/// Backend sections are optional: a backend is used only when its URL (or brokers) is set; otherwise
/// the embedded in-process store takes its place.
public struct VectorStreamConfiguration: Sendable, Hashable {
    /// Where embedded stores keep their files. Default `.data` under the working directory.
    public var dataDirectory = ".data"
    public var pipeline = PipelineSettings()
    public var http = HTTPSettings()
    /// Uploaded files: size limit, processing lease, rejected-row samples (Files/FileCatalog.swift).
    public var files = FilesSettings()
    public var embedder = EmbedderSettings()
    public var kafka = KafkaSettings()
    public var redis = RedisSettings()
    public var clickhouse = ClickHouseSettings()
    public var vectorDB = VectorDBSettings()
    /// `POST /v1/ingest` limits (MicroBatchEngine+Ingest.swift).
    public var ingest = IngestSettings()
    public var embedded = EmbeddedSettings()
    /// S3-compatible object storage for uploaded files (S3Settings.swift).
    public var s3 = S3Settings()
    public var postgres = PostgresSettings()
    /// Where each setting that is not a default came from: the environment variable's name
    /// (`VECTORSTREAM_...`) or the configuration file's path, by key. Error messages name it.
    public var origins: [String: String] = [:]

    public init() {}

    public struct PipelineSettings: Sendable, Hashable {
        /// Default 10 s, Spark Structured Streaming's; down to milliseconds.
        public var triggerInterval: Duration = .seconds(10)
        public var maxEventsPerTrigger = 50_000
        public var maxRecordBytes = 64 * 1024
        public var maxTextBytes = 8 * 1024
        public var workerID = "worker-1"
        /// JSON-lines file that keeps rejected records when no Kafka dead-letter topic is configured (and those
        /// the topic refuses).
        public var deadLetterFile = "dead-letter.jsonl"
        /// Highest accepted product price; above it an event is a dead letter (`price_too_high`). Default 1e9.
        public var maxPrice = 1e9
        /// Attempts of a batch failing with an error retrying cannot heal before the worker stops (exit 1).
        /// Default 5. Outages are retried for as long as they last.
        public var maxPermanentFailureAttempts = 5
        /// How long a batch being stored may take to finish after SIGTERM/SIGINT before it is cancelled
        /// (never acknowledged). Default 10 s.
        public var shutdownGrace: Duration = .seconds(10)
    }

    public struct HTTPSettings: Sendable, Hashable {
        public var host = "127.0.0.1"
        public var port = 8080
        /// When set, every `/v1` route requires it (`Authorization: Bearer` or `X-API-Key`).
        public var apiKey: String?
        /// Largest request body; a larger `Content-Length` is answered 413 before the body is read.
        public var maxBodyBytes = 64 * 1024
        /// Longest wait for one call of the API to a dependency (vector store, analytics store, query cache, live
        /// state) and for each health check; past it the call fails and counts against the breaker. Default 2 s.
        public var readTimeout: Duration = .seconds(2)
        /// Consecutive failed or timed-out calls that open a dependency's circuit breaker. Default 5.
        public var breakerFailureThreshold = 5
        /// How long an open breaker answers 503 (with `Retry-After`) at once before one probe call may go. Default 10 s.
        public var breakerCooldown: Duration = .seconds(10)
    }

    public struct EmbedderSettings: Sendable, Hashable {
        /// Directory holding model.safetensors, vocab.txt and config.json; found in site-packages when unset.
        public var modelDirectory: String?
        /// Threads for matrix products. 0 = one per core.
        public var threads = 0
        /// Texts per forward pass.
        public var batchSize = 32
        /// "fp32" (exact, the default) or "bf16" (faster matrix products on CPUs with AVX-512 BF16).
        public var precision = "fp32"
        /// What computes the fp32 layers' large products: "auto" (the default: the embedder's packed AVX-512F
        /// kernel where the CPU has it, else OpenBLAS), "packed" or "blas".
        public var matrixKernel = "auto"
    }

    public struct KafkaSettings: Sendable, Hashable {
        /// Comma-separated `host:port`; when set, `run` reads from Kafka.
        public var brokers: String?
        public var topic = "ecommerce-events"
        public var deadLetterTopic = "ecommerce-events-dlq"
        public var embeddingsReadyTopic = "embeddings_ready"
        public var fileProcessedTopic = "file_processed"
        public var groupID = "vectorstream"
        public var createTopics = true
        public var partitions = 3
        public var replicationFactor = 1
        public var sessionTimeoutMillis = 10_000
        /// Largest dead letter sent whole; a larger record goes shortened, with its size and SHA-256 in headers.
        /// Default 900,000 bytes (under Kafka's default 1 MB message limit, with room for headers).
        public var deadLetterMaxBytes = 900_000
        /// Passed to librdkafka as they are (SASL, SSL, ...).
        public var properties: [String: String] = [:]
    }

    public struct RedisSettings: Sendable, Hashable {
        /// `redis://[user:password@]host:port[/db]` or `rediss://`; selects Redis for dedup and caches.
        public var url: String?
        /// How long a processed key is remembered. Default 7 days.
        public var dedupTTLSeconds = 7 * 24 * 3600
        /// How long an unconfirmed claim blocks others before a crashed worker's work is retried.
        public var claimLeaseSeconds = 60
        public var embeddingCacheTTLSeconds = 24 * 3600
        public var queryCacheTTLSeconds = 30
        public var poolSize = 4
    }

    public struct ClickHouseSettings: Sendable, Hashable {
        /// `http://host:8123`; selects ClickHouse for events and analytics.
        public var url: String?
        public var database = "vectorstream"
        public var user = "default"
        public var password: String?
        /// Also keep each event's JSON as received in `events.raw`. Default false: every field is already a typed
        /// column (the product description in `products`), and the second copy costs about a third of the
        /// insert throughput; turn on where an audit needs the exact bytes.
        public var storeRawJSON = false
    }

    public struct VectorDBSettings: Sendable, Hashable {
        /// `http://host:19530`; selects Milvus.
        public var milvusURL: String?
        public var milvusToken: String?
        /// `http://host:6333`; selects Qdrant.
        public var qdrantURL: String?
        public var qdrantAPIKey: String?
        public var collection = "products"
    }

    /// How much the embedded SQLite store keeps, so an endless stream does not fill the disk.
    public struct EmbeddedSettings: Sendable, Hashable {
        /// Events, dead letters and metrics stored longer ago than this are deleted (by when they were stored, so
        /// replays and backfills with old timestamps stay). Default 7 days; 0 keeps all.
        public var retention: Duration = .seconds(7 * 24 * 3600)
        /// Most megabytes the database may use; the oldest data goes first. Default 4,096; 0 means no cap.
        public var maxSizeMB = 4096
    }

    /// The metrics history in PostgreSQL (docs/metrics.md): used when `url` is set, else the embedded store keeps it.
    public struct PostgresSettings: Sendable, Hashable {
        /// `postgres://user:password@host:port/db?sslmode=disable|require`.
        public var url: String?
        /// How often each worker writes its figures. Default 5 s.
        public var writeInterval: Duration = .seconds(5)
        /// Points older than this are dropped (a day partition at a time). Default 30 days.
        public var retention: Duration = .seconds(30 * 86_400)
        /// Most points held in memory while PostgreSQL is slow or down; the oldest go first. Default 100,000
        /// (about an hour of one worker at the default interval).
        public var bufferPoints = 100_000

        public init() {}
    }

    /// The engine's view of the pipeline settings.
    public var engine: EngineConfiguration {
        var e = EngineConfiguration()
        e.triggerInterval = pipeline.triggerInterval
        e.maxEventsPerTrigger = pipeline.maxEventsPerTrigger
        e.limits = ValidationLimits(maxRecordBytes: pipeline.maxRecordBytes, maxTextBytes: pipeline.maxTextBytes,
                                    maxPrice: pipeline.maxPrice)
        e.workerID = pipeline.workerID
        e.maxPermanentFailureAttempts = pipeline.maxPermanentFailureAttempts
        return e
    }
}

/// A configuration problem, said so that the user can fix it.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One setting: its key in the YAML file, its environment variable, and how to read and write it.
public struct ConfigurationKey: Sendable {
    public let key: String
    public let environment: String
    public let isSecret: Bool
    public let help: String
    let read: @Sendable (VectorStreamConfiguration) -> String?
    let write: @Sendable (inout VectorStreamConfiguration, String) throws -> Void

    public func value(in config: VectorStreamConfiguration) -> String? { read(config) }

    /// Sets the value and records where it came from. `origin` is the variable's name when it starts with
    /// `VECTORSTREAM_`, else the file's path. A refusal is one line naming the setting, where it was set and
    /// what to write instead (a secret's value is never repeated).
    public func apply(_ text: String, to config: inout VectorStreamConfiguration, from origin: String) throws {
        do {
            try write(&config, text)
            config.origins[key] = origin
        } catch let error as ConfigurationError {
            let shown = isSecret ? "****" : VectorStreamConfiguration.maskURLs(in: text)
            if origin.hasPrefix("VECTORSTREAM_") {
                throw ConfigurationError("\(origin)=\(shown) (\(key)): \(error.description)")
            }
            throw ConfigurationError("\(origin): \(key): \(error.description)")
        }
    }
}

extension VectorStreamConfiguration {
    /// Every setting, in the order `config --print` shows them.
    public static let keys: [ConfigurationKey] = {
        typealias C = VectorStreamConfiguration
        func string(_ key: String, _ env: String? = nil, secret: Bool = false, _ help: String,
                    _ path: WritableKeyPath<C, String> & Sendable) -> ConfigurationKey {
            ConfigurationKey(key: key, environment: env ?? envName(key), isSecret: secret, help: help,
                             read: { $0[keyPath: path] }, write: { c, v in
                                 guard !v.isEmpty else { throw ConfigurationError("must not be empty") }
                                 c[keyPath: path] = v
                             })
        }
        func optional(_ key: String, _ env: String? = nil, secret: Bool = false, _ help: String,
                      _ path: WritableKeyPath<C, String?> & Sendable) -> ConfigurationKey {
            ConfigurationKey(key: key, environment: env ?? envName(key), isSecret: secret, help: help,
                             read: { $0[keyPath: path] }, write: { c, v in c[keyPath: path] = v.isEmpty ? nil : v })
        }
        func int(_ key: String, _ env: String? = nil, _ help: String, _ range: ClosedRange<Int>,
                 _ path: WritableKeyPath<C, Int> & Sendable) -> ConfigurationKey {
            ConfigurationKey(key: key, environment: env ?? envName(key), isSecret: false, help: help,
                             read: { String($0[keyPath: path]) }, write: { c, v in
                                 guard let n = Int(v.trimmingSpaces) else {
                                     throw ConfigurationError("expected an integer, got '\(v)'")
                                 }
                                 guard range.contains(n) else {
                                     throw ConfigurationError("\(n) is out of range \(range.lowerBound)...\(range.upperBound)")
                                 }
                                 c[keyPath: path] = n
                             })
        }
        func choice(_ key: String, _ env: String? = nil, _ help: String, _ allowed: [String],
                    _ path: WritableKeyPath<C, String> & Sendable) -> ConfigurationKey {
            ConfigurationKey(key: key, environment: env ?? envName(key), isSecret: false, help: help,
                             read: { $0[keyPath: path] }, write: { c, v in
                                 let value = v.trimmingSpaces.lowercased()
                                 guard allowed.contains(value) else {
                                     throw ConfigurationError("expected \(allowed.joined(separator: ", ")), got '\(v)'")
                                 }
                                 c[keyPath: path] = value
                             })
        }
        func bool(_ key: String, _ help: String, _ path: WritableKeyPath<C, Bool> & Sendable) -> ConfigurationKey {
            ConfigurationKey(key: key, environment: envName(key), isSecret: false, help: help,
                             read: { String($0[keyPath: path]) }, write: { c, v in
                                 switch v.lowercased() {
                                 case "true", "yes", "1", "on": c[keyPath: path] = true
                                 case "false", "no", "0", "off": c[keyPath: path] = false
                                 default: throw ConfigurationError("expected true or false, got '\(v)'")
                                 }
                             })
        }
        return [
            string("data_dir", "VECTORSTREAM_DATA_DIR", "directory of the embedded stores", \.dataDirectory),
            ConfigurationKey(key: "pipeline.trigger_interval", environment: "VECTORSTREAM_TRIGGER_INTERVAL",
                             isSecret: false, help: "micro-batch trigger interval, with a unit: 10s, 250ms (1ms...1h)",
                             read: { formatDuration($0.pipeline.triggerInterval) },
                             write: { c, v in c.pipeline.triggerInterval = try parseDuration(v, within: triggerIntervalBounds) }),
            int("pipeline.max_events_per_trigger", "VECTORSTREAM_MAX_EVENTS_PER_TRIGGER",
                "most events in one micro-batch", 1...10_000_000, \.pipeline.maxEventsPerTrigger),
            int("pipeline.max_record_bytes", nil, "largest accepted record", 64...(64 << 20), \.pipeline.maxRecordBytes),
            int("pipeline.max_text_bytes", nil, "largest accepted text field", 16...(16 << 20), \.pipeline.maxTextBytes),
            string("pipeline.worker_id", "VECTORSTREAM_WORKER_ID", "this worker's name", \.pipeline.workerID),
            string("pipeline.dead_letter_file", nil, "dead-letter file (no Kafka)", \.pipeline.deadLetterFile),
            ConfigurationKey(key: "pipeline.max_price", environment: "VECTORSTREAM_MAX_PRICE", isSecret: false,
                             help: "highest accepted product price", read: { String($0.pipeline.maxPrice) },
                             write: { c, v in
                                 guard let price = Double(v.trimmingSpaces), price.isFinite, price > 0, price <= 1e15 else {
                                     throw ConfigurationError("expected a number above 0 and at most 1e15, got '\(v)'")
                                 }
                                 c.pipeline.maxPrice = price
                             }),
            int("pipeline.max_permanent_failure_attempts", nil, "attempts of an unhealable batch before exit",
                1...1000, \.pipeline.maxPermanentFailureAttempts),
            ConfigurationKey(key: "pipeline.shutdown_grace", environment: "VECTORSTREAM_SHUTDOWN_GRACE", isSecret: false,
                             help: "time a batch may take to finish after SIGTERM (0s...1h)", read: { formatDuration($0.pipeline.shutdownGrace) },
                             write: { c, v in c.pipeline.shutdownGrace = try parseDuration(v, within: .zero ... .seconds(3600)) }),
            string("http.host", "VECTORSTREAM_HTTP_HOST", "address the API listens on", \.http.host),
            int("http.port", "VECTORSTREAM_HTTP_PORT", "port the API listens on", 0...65535, \.http.port),
            optional("http.api_key", "VECTORSTREAM_API_KEY", secret: true, "key required on /v1 routes", \.http.apiKey),
            int("http.max_body_bytes", nil, "largest accepted request body", 256...(16 << 20), \.http.maxBodyBytes),
            ConfigurationKey(key: "http.read_timeout", environment: "VECTORSTREAM_HTTP_READ_TIMEOUT", isSecret: false,
                             help: "longest wait for one dependency call of the API (2s, 500ms, ...)",
                             read: { formatDuration($0.http.readTimeout) }, write: { c, v in
                                 let d = try parseDuration(v)
                                 guard d > .zero else { throw ConfigurationError("must be positive") }
                                 c.http.readTimeout = d
                             }),
            int("http.breaker_failure_threshold", nil, "consecutive failures that open a dependency's breaker",
                1...1000, \.http.breakerFailureThreshold),
            ConfigurationKey(key: "http.breaker_cooldown", environment: "VECTORSTREAM_HTTP_BREAKER_COOLDOWN", isSecret: false,
                             help: "how long an open breaker refuses calls before a probe",
                             read: { formatDuration($0.http.breakerCooldown) }, write: { c, v in
                                 let d = try parseDuration(v)
                                 guard d > .zero else { throw ConfigurationError("must be positive") }
                                 c.http.breakerCooldown = d
                             }),
            int("ingest.max_body_bytes", nil, "largest POST /v1/ingest body", 1024...(1 << 30), \.ingest.maxBodyBytes),
            int("ingest.max_records", nil, "most records in one POST /v1/ingest", 1...10_000_000, \.ingest.maxRecords),
            int("ingest.max_concurrent", "VECTORSTREAM_INGEST_MAX_CONCURRENT", "ingest requests processed at once (more: 429)",
                1...256, \.ingest.maxConcurrent),
            ConfigurationKey(key: "ingest.idempotency_ttl", environment: "VECTORSTREAM_INGEST_IDEMPOTENCY_TTL", isSecret: false,
                             help: "how long an ingest answer is kept for retries with its Idempotency-Key (1s...30d)",
                             read: { formatDuration($0.ingest.idempotencyTTL) },
                             write: { c, v in c.ingest.idempotencyTTL = try parseDuration(v, within: .seconds(1) ... .seconds(30 * 86_400)) }),
            ConfigurationKey(key: "ingest.idempotency_lease", environment: "VECTORSTREAM_INGEST_IDEMPOTENCY_LEASE", isSecret: false,
                             help: "how long a crashed server's in-flight Idempotency-Key blocks retries (renewed while alive; 1s...1h)",
                             read: { formatDuration($0.ingest.idempotencyLease) },
                             write: { c, v in c.ingest.idempotencyLease = try parseDuration(v, within: .seconds(1) ... .seconds(3600)) }),
            optional("embedder.model_dir", "VECTORSTREAM_MODEL_DIR", "all-MiniLM-L6-v2 directory", \.embedder.modelDirectory),
            int("embedder.threads", "VECTORSTREAM_EMBEDDER_THREADS", "BLAS threads (0 = cores)", 0...256, \.embedder.threads),
            int("embedder.batch_size", nil, "texts per forward pass", 1...4096, \.embedder.batchSize),
            choice("embedder.precision", "VECTORSTREAM_EMBEDDER_PRECISION", "fp32 (exact) or bf16 (AVX-512 BF16 CPUs)",
                   ["fp32", "bf16"], \.embedder.precision),
            choice("embedder.matrix_kernel", "VECTORSTREAM_EMBEDDER_MATRIX_KERNEL",
                   "fp32 products: auto, packed (AVX-512F) or blas", ["auto", "packed", "blas"], \.embedder.matrixKernel),
            ConfigurationKey(key: "embedded.retention", environment: "VECTORSTREAM_EMBEDDED_RETENTION", isSecret: false,
                             help: "age after which the embedded store deletes events (0 = keep)",
                             read: { formatDuration($0.embedded.retention) },
                             write: { c, v in c.embedded.retention = try parseDuration(v) }),
            int("embedded.max_size_mb", "VECTORSTREAM_EMBEDDED_MAX_SIZE_MB", "most MB the embedded store uses (0 = no cap)",
                0...(1 << 30), \.embedded.maxSizeMB),
            optional("kafka.brokers", "VECTORSTREAM_KAFKA_BROKERS", "Kafka bootstrap servers", \.kafka.brokers),
            string("kafka.topic", "VECTORSTREAM_KAFKA_TOPIC", "raw events topic", \.kafka.topic),
            string("kafka.dead_letter_topic", "VECTORSTREAM_KAFKA_DEAD_LETTER_TOPIC", "dead-letter topic", \.kafka.deadLetterTopic),
            string("kafka.embeddings_ready_topic", nil, "embeddings_ready topic", \.kafka.embeddingsReadyTopic),
            string("kafka.file_processed_topic", nil, "file_processed topic", \.kafka.fileProcessedTopic),
            string("kafka.group_id", "VECTORSTREAM_KAFKA_GROUP", "consumer group", \.kafka.groupID),
            bool("kafka.create_topics", "create topics at start", \.kafka.createTopics),
            int("kafka.partitions", nil, "partitions of created topics", 1...10_000, \.kafka.partitions),
            int("kafka.replication_factor", nil, "replication of created topics", 1...16, \.kafka.replicationFactor),
            int("kafka.session_timeout_ms", nil, "consumer session timeout", 1000...600_000, \.kafka.sessionTimeoutMillis),
            int("kafka.dead_letter_max_bytes", nil, "largest dead letter sent whole", 4096...(64 << 20), \.kafka.deadLetterMaxBytes),
            optional("redis.url", "VECTORSTREAM_REDIS_URL", secret: true, "redis:// or rediss:// URL", \.redis.url),
            int("redis.dedup_ttl_seconds", nil, "how long processed keys are remembered", 1...Int(Int32.max), \.redis.dedupTTLSeconds),
            int("redis.claim_lease_seconds", nil, "lease of an unconfirmed claim", 1...86_400, \.redis.claimLeaseSeconds),
            int("redis.embedding_cache_ttl_seconds", nil, "embedding cache TTL", 1...Int(Int32.max), \.redis.embeddingCacheTTLSeconds),
            int("redis.query_cache_ttl_seconds", nil, "query cache TTL", 1...86_400, \.redis.queryCacheTTLSeconds),
            int("redis.pool_size", nil, "connections per worker", 1...256, \.redis.poolSize),
            optional("postgres.url", "VECTORSTREAM_POSTGRES_URL", secret: true,
                     "postgres:// URL of the metrics history (sslmode=disable|require)", \.postgres.url),
            ConfigurationKey(key: "postgres.write_interval", environment: "VECTORSTREAM_POSTGRES_WRITE_INTERVAL", isSecret: false,
                             help: "how often each worker writes its metrics (100ms...1h)",
                             read: { formatDuration($0.postgres.writeInterval) },
                             write: { c, v in c.postgres.writeInterval = try parseDuration(v, within: .milliseconds(100) ... .seconds(3600)) }),
            ConfigurationKey(key: "postgres.retention", environment: "VECTORSTREAM_POSTGRES_RETENTION", isSecret: false,
                             help: "age after which metric points are dropped (1m...366d)",
                             read: { formatDuration($0.postgres.retention) },
                             write: { c, v in c.postgres.retention = try parseDuration(v, within: .seconds(60) ... .seconds(366 * 86_400)) }),
            int("postgres.buffer_points", "VECTORSTREAM_POSTGRES_BUFFER_POINTS", "metric points held while PostgreSQL is down",
                100...10_000_000, \.postgres.bufferPoints),
            optional("clickhouse.url", "VECTORSTREAM_CLICKHOUSE_URL", "ClickHouse HTTP URL", \.clickhouse.url),
            string("clickhouse.database", "VECTORSTREAM_CLICKHOUSE_DATABASE", "ClickHouse database", \.clickhouse.database),
            string("clickhouse.user", "VECTORSTREAM_CLICKHOUSE_USER", "ClickHouse user", \.clickhouse.user),
            optional("clickhouse.password", "VECTORSTREAM_CLICKHOUSE_PASSWORD", secret: true, "ClickHouse password", \.clickhouse.password),
            bool("clickhouse.store_raw_json", "also keep each event's JSON as received", \.clickhouse.storeRawJSON),
            optional("vector_db.milvus_url", "VECTORSTREAM_MILVUS_URL", "Milvus REST URL", \.vectorDB.milvusURL),
            optional("vector_db.milvus_token", "VECTORSTREAM_MILVUS_TOKEN", secret: true, "Milvus token", \.vectorDB.milvusToken),
            optional("vector_db.qdrant_url", "VECTORSTREAM_QDRANT_URL", "Qdrant REST URL", \.vectorDB.qdrantURL),
            optional("vector_db.qdrant_api_key", "VECTORSTREAM_QDRANT_API_KEY", secret: true, "Qdrant API key", \.vectorDB.qdrantAPIKey),
            string("vector_db.collection", "VECTORSTREAM_VECTOR_COLLECTION", "collection name", \.vectorDB.collection),
            int("files.max_bytes", "VECTORSTREAM_FILES_MAX_BYTES", "largest accepted file in bytes (import, POST /v1/files)",
                1...(1 << 40), \.files.maxBytes),
            ConfigurationKey(key: "files.claim_lease", environment: "VECTORSTREAM_FILES_CLAIM_LEASE", isSecret: false,
                             help: "how long a file's processing claim outlives its worker (1s...1h)",
                             read: { formatDuration($0.files.claimLease) },
                             write: { c, v in c.files.claimLease = try parseDuration(v, within: .seconds(1) ... .seconds(3600)) }),
            int("files.rejected_samples", nil, "rejected rows kept with their reason per file", 0...100_000, \.files.rejectedSamples),
        ] + s3Keys
    }()

    static func envName(_ key: String) -> String {
        "VECTORSTREAM_" + key.uppercased().replacingDots
    }

    /// librdkafka properties: `kafka.properties.<name>` in the file, `VECTORSTREAM_KAFKA_PROPERTY_<NAME>` in the
    /// environment (underscores become dots).
    public static let kafkaPropertyKeyPrefix = "kafka.properties."
    public static let kafkaPropertyEnvironmentPrefix = "VECTORSTREAM_KAFKA_PROPERTY_"

    /// Every key as `config --keys` lists it: the settings, then the librdkafka pass-through properties.
    public static var keyListing: [(key: String, environment: String, help: String)] {
        keys.map { ($0.key, $0.environment, $0.help) } + [
            (kafkaPropertyKeyPrefix + "<name>", kafkaPropertyEnvironmentPrefix + "<NAME>",
             "librdkafka property passed as is (SASL, SSL, ...); e.g. kafka.properties.sasl.mechanism"),
        ]
    }

    /// `VECTORSTREAM_...` variables that are not settings but are read by the command or the project's scripts
    /// and tests; they are never reported as mistyped.
    public static let otherEnvironmentVariables: Set<String> = [
        "VECTORSTREAM_CONFIG", "VECTORSTREAM_LOG_LEVEL", "VECTORSTREAM_BIN", "VECTORSTREAM_RUN_DIR",
        "VECTORSTREAM_FAULTS", "VECTORSTREAM_DEBUG_CRASH_TEST", "VECTORSTREAM_CATEGORY_TEST_PRODUCTS",
        "VECTORSTREAM_MILVUS_START_TIMEOUT", "VECTORSTREAM_REDIS_PORT", "VECTORSTREAM_KAFKA_PORT",
        "VECTORSTREAM_MILVUS_PORT", "VECTORSTREAM_CLICKHOUSE_HTTP_PORT", "VECTORSTREAM_CLICKHOUSE_TCP_PORT",
        "VECTORSTREAM_POSTGRES_PORT", "VECTORSTREAM_POSTGRES_TEST_PASSWORD", "VECTORSTREAM_PROMETHEUS_PORT",
        "VECTORSTREAM_LONG_TESTS", "VECTORSTREAM_METRICS_CHECK", "VECTORSTREAM_GRAFANA_POSTGRES_PASSWORD",
    ]

    /// One warning per `VECTORSTREAM_...` variable that no setting reads (a typo is otherwise silently ignored),
    /// with the nearest real name when there is one.
    public static func environmentWarnings(_ environment: [String: String]) -> [String] {
        let known = Set(keys.map(\.environment))
        let candidates = keys.map(\.environment) + ["VECTORSTREAM_CONFIG", "VECTORSTREAM_LOG_LEVEL"]
        var warnings: [String] = []
        for name in environment.keys.sorted() where name.hasPrefix("VECTORSTREAM_") {
            if known.contains(name) || otherEnvironmentVariables.contains(name) || name.hasPrefix("VECTORSTREAM_TEST_")
                || (name.hasPrefix(kafkaPropertyEnvironmentPrefix) && name.count > kafkaPropertyEnvironmentPrefix.count) {
                continue
            }
            if let near = nearest(name, among: candidates) {
                warnings.append("\(name) is not a setting and is ignored; did you mean \(near)?")
            } else {
                warnings.append("\(name) is not a setting and is ignored (`vectorstream config --keys` lists them)")
            }
        }
        return warnings
    }

    /// Applies flattened file values (`section.key` → text) and then the environment. Unknown keys are an error
    /// that names every one of them at once, each with the nearest known key.
    public mutating func apply(file values: [String: String], origin: String, environment: [String: String]) throws {
        let byKey = Dictionary(uniqueKeysWithValues: Self.keys.map { ($0.key, $0) })
        var unknown: [String] = []
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            if key.hasPrefix(Self.kafkaPropertyKeyPrefix), key.count > Self.kafkaPropertyKeyPrefix.count {
                kafka.properties[String(key.dropFirst(Self.kafkaPropertyKeyPrefix.count))] = value
                continue
            }
            if key == "kafka.properties" && value.isEmpty { continue }  // `properties:` with nothing under it
            guard let setting = byKey[key] else {
                unknown.append(key)
                continue
            }
            try setting.apply(value, to: &self, from: origin)
        }
        if !unknown.isEmpty {
            let known = Self.keys.map(\.key) + ["kafka.properties"]
            let each = unknown.map { key in
                if key == "kafka.properties" {
                    return "'\(key)' (a map: kafka.properties.<librdkafka property>: value)"
                }
                return Self.nearest(key, among: known).map { "'\(key)' (did you mean '\($0)'?)" } ?? "'\(key)'"
            }
            let noun = unknown.count == 1 ? "unknown key" : "\(unknown.count) unknown keys"
            throw ConfigurationError("\(origin): \(noun): \(each.joined(separator: ", ")); "
                                     + "`vectorstream config --keys` lists every key")
        }
        for setting in Self.keys {
            if let value = environment[setting.environment] {
                try setting.apply(value, to: &self, from: setting.environment)
            }
        }
        applyS3Fallbacks(environment)
        for (name, value) in environment where name.hasPrefix(Self.kafkaPropertyEnvironmentPrefix) {
            let property = name.dropFirst(Self.kafkaPropertyEnvironmentPrefix.count).lowercased().replacingUnderscoresWithDots
            guard !property.isEmpty else { continue }
            kafka.properties[property] = value
        }
        try validate()
    }

    /// The setting's key and where its value came from: `kafka.brokers (set by VECTORSTREAM_KAFKA_BROKERS)`,
    /// `kafka.brokers (set in vectorstream.yaml)`, or the bare key for a default.
    public func describe(_ key: String) -> String {
        guard let origin = originText(key) else { return key }
        return "\(key) (\(origin))"
    }

    /// `set by VECTORSTREAM_KAFKA_BROKERS`, `set by --port`, `set in vectorstream.yaml`; nil for a default.
    public func originText(_ key: String) -> String? {
        guard let origin = origins[key] else { return nil }
        return Self.isVariableOrFlag(origin) ? "set by \(origin)" : "set in \(origin)"
    }

    /// The key with its origin after a comma, for text already in parentheses: `http.port, set by --port`.
    public func describeInline(_ key: String) -> String {
        originText(key).map { "\(key), \($0)" } ?? key
    }

    /// How to change a setting: its variable, or the file that set it.
    public func howToChange(_ key: String) -> String {
        let env = Self.keys.first { $0.key == key }?.environment ?? Self.envName(key)
        if let origin = origins[key], !Self.isVariableOrFlag(origin) { return "\(key) in \(origin)" }
        return env
    }

    static func isVariableOrFlag(_ origin: String) -> Bool { origin.hasPrefix("VECTORSTREAM_") || origin.hasPrefix("--") }

    /// Checks that need more than one setting.
    public func validate() throws {
        try validateS3()
        if pipeline.triggerInterval <= .zero { throw ConfigurationError("\(describe("pipeline.trigger_interval")) must be positive") }
        if vectorDB.milvusURL != nil && vectorDB.qdrantURL != nil {
            throw ConfigurationError("\(describe("vector_db.milvus_url")) and \(describe("vector_db.qdrant_url")) are both set; "
                                     + "keep one of them")
        }
        for (name, url) in [("redis.url", redis.url), ("clickhouse.url", clickhouse.url),
                            ("vector_db.milvus_url", vectorDB.milvusURL), ("vector_db.qdrant_url", vectorDB.qdrantURL)] {
            guard let url else { continue }
            let allowed = name == "redis.url" ? ["redis", "rediss"] : ["http", "https"]
            let example = name == "redis.url" ? "redis://host:6379" : "http://host:port"
            guard let scheme = url.split(separator: ":").first, url.contains("://") else {
                throw ConfigurationError("\(describe(name)): '\(Self.maskURL(url))' is not a URL; write it as \(example)")
            }
            guard allowed.contains(String(scheme)) else {
                throw ConfigurationError("\(describe(name)) must start with \(allowed.map { $0 + "://" }.joined(separator: " or ")), "
                                         + "not \(scheme)://")
            }
        }
        if let url = postgres.url {
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw ConfigurationError("\(describe("postgres.url")): '\(Self.maskURL(url))' must start with postgres:// "
                                         + "(postgres://user:password@host:5432/db?sslmode=disable)")
            }
            if let mode = url.split(separator: "?", maxSplits: 1).dropFirst().first?.split(separator: "&")
                .first(where: { $0.hasPrefix("sslmode=") })?.dropFirst("sslmode=".count),
               !["disable", "require"].contains(String(mode)) {
                throw ConfigurationError("\(describe("postgres.url")): sslmode=\(mode) is not supported; use sslmode=disable or sslmode=require")
            }
        }
    }

    /// The effective configuration as YAML: secrets masked, and the password in every URL (`user:****@`).
    public func rendered() -> String {
        var lines: [String] = []
        var section = ""
        for setting in Self.keys {
            let parts = setting.key.split(separator: ".", maxSplits: 1).map(String.init)
            let value = setting.value(in: self).map { setting.isSecret ? Self.mask($0, key: setting.key) : Self.maskURLs(in: $0) }
            let shown = value.map(Self.yamlScalar) ?? "null"
            if parts.count == 1 {
                lines.append("\(parts[0]): \(shown)   # \(setting.environment)")
            } else {
                if parts[0] != section {
                    section = parts[0]
                    lines.append("\(section):")
                }
                lines.append("  \(parts[1]): \(shown)   # \(setting.environment)")
            }
            if setting.key == "kafka.dead_letter_max_bytes" {
                lines.append("  properties:\(kafka.properties.isEmpty ? " {}" : "")   # \(Self.kafkaPropertyEnvironmentPrefix)<NAME>")
                for (k, v) in kafka.properties.sorted(by: { $0.key < $1.key }) {
                    lines.append("    \(k): \(Self.yamlScalar(Self.isSecretProperty(k) ? "****" : Self.maskURLs(in: v)))")
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// librdkafka properties whose value is (or holds) a secret: passwords, keys, tokens, JAAS configurations.
    public static func isSecretProperty(_ name: String) -> Bool {
        let n = name.lowercased()
        return ["password", "secret", "key", "token", "jaas", "credential", "pem"].contains { n.contains($0) }
    }

    /// A secret setting's value as shown: a URL keeps all but its password, anything else is `****`.
    static func mask(_ value: String, key: String) -> String {
        key.hasSuffix("url") && value.contains("://") ? maskURL(value) : "****"
    }

    /// Hides the password of a URL's user-info (the whole user-info when it has no `user:` part); the rest stays
    /// readable. Query parameters that look like secrets (`password=`, `token=`, `key=`, ...) are hidden too.
    public static func maskURL(_ url: String) -> String {
        var result = url
        if let schemeEnd = url.range(of: "://") {
            let authorityEnd = url[schemeEnd.upperBound...].firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? url.endIndex
            if let at = url[schemeEnd.upperBound..<authorityEnd].lastIndex(of: "@") {
                let userInfo = url[schemeEnd.upperBound..<at]
                let user = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
                result = String(url[..<schemeEnd.upperBound]) + (userInfo.contains(":") ? "\(user):****" : "****")
                    + String(url[at...])
            }
        }
        guard let query = result.firstIndex(of: "?") else { return result }
        let parameters = result[result.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false)
            .map { parameter -> String in
                let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard pair.count == 2, isSecretProperty(String(pair[0])) || pair[0].lowercased() == "pw" else {
                    return String(parameter)
                }
                return "\(pair[0])=****"
            }
        return String(result[...query]) + parameters.joined(separator: "&")
    }

    /// ``maskURL(_:)`` for every URL in a value, also in comma-separated lists (`kafka.brokers`).
    public static func maskURLs(in value: String) -> String {
        guard value.contains("@") || value.contains("?") else { return value }
        return value.split(separator: ",", omittingEmptySubsequences: false).map { part -> String in
            let text = String(part)
            if text.contains("://") { return maskURL(text) }
            // host-only forms such as user:password@host:9092
            if let at = text.lastIndex(of: "@"), text[..<at].contains(":") {
                let user = text[..<at].split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
                return "\(user):****" + text[at...]
            }
            return text
        }.joined(separator: ",")
    }

    static func yamlScalar(_ s: String) -> String {
        let plain = s.allSatisfy { $0.isLetter || $0.isNumber || "._-/:@*".contains($0) } && !s.isEmpty
        return plain ? s : "\"" + s.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// The known name closest to `name` (edit distance, case-insensitive), when it is close enough to be a typo.
    public static func nearest(_ name: String, among candidates: [String]) -> String? {
        let target = Array(name.lowercased())
        var best: (String, Int)?
        for candidate in candidates {
            let d = editDistance(target, Array(candidate.lowercased()))
            if best == nil || d < best!.1 { best = (candidate, d) }
        }
        guard let best else { return nil }
        let allowed = max(2, min(target.count, best.0.count) / 4)
        return best.1 <= allowed ? best.0 : nil
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

/// The trigger interval's bounds: below a millisecond the engine would spin, above an hour nothing is "micro".
public let triggerIntervalBounds: ClosedRange<Duration> = .milliseconds(1) ... .seconds(3600)

/// Parses `10s`, `250ms`, `500us`, `1.5m`, `1h`. A bare number is refused: `10` could mean 10 ms or (as in Spark)
/// 10 s, so the unit must be written.
public func parseDuration(_ text: String) throws -> Duration {
    let t = text.trimmingSpaces.lowercased()
    let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
    if let number = Double(t), number.isFinite {
        throw ConfigurationError("'\(text)' has no unit; write \(t)s for seconds or \(t)ms for milliseconds")
    }
    for (suffix, scale) in units where t.hasSuffix(suffix) {
        let digits = String(t.dropLast(suffix.count)).trimmingSpaces
        if let v = Double(digits), v.isFinite, !digits.hasPrefix("+") {
            guard v >= 0 else { throw ConfigurationError("'\(text)' is negative; a duration is 0 or more") }
            let seconds = v * scale
            // Beyond a year is a typo, and the conversion to Duration would overflow long before Double does.
            guard seconds <= 366 * 86_400 else {
                throw ConfigurationError("'\(text)' is too long (more than a year)")
            }
            return .microseconds(Int64((seconds * 1e6).rounded()))
        }
    }
    throw ConfigurationError("expected a duration with a unit such as 10s, 250ms or 1m, got '\(text)'")
}

/// ``parseDuration(_:)`` within bounds, said in the message when the value is outside.
public func parseDuration(_ text: String, within bounds: ClosedRange<Duration>) throws -> Duration {
    let d: Duration
    do {
        d = try parseDuration(text)
    } catch let error as ConfigurationError where error.description.contains("too long") {
        throw ConfigurationError("'\(text)' is out of range \(durationBoundsText(bounds))")
    }
    guard bounds.contains(d) else {
        throw ConfigurationError("'\(text)' is out of range \(durationBoundsText(bounds))")
    }
    return d
}

/// `1ms...1h`: bounds in the largest whole unit.
func durationBoundsText(_ bounds: ClosedRange<Duration>) -> String {
    func text(_ d: Duration) -> String {
        let s = d.components.seconds
        if d.components.attoseconds == 0 && s > 0 {
            if s % 3600 == 0 { return "\(s / 3600)h" }
            if s % 60 == 0 { return "\(s / 60)m" }
        }
        return formatDuration(d)
    }
    return "\(text(bounds.lowerBound))...\(text(bounds.upperBound))"
}

public func formatDuration(_ d: Duration) -> String {
    let micros = d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000
    if micros % 1_000_000 == 0 { return "\(micros / 1_000_000)s" }
    if micros % 1000 == 0 { return "\(micros / 1000)ms" }
    return "\(micros)us"
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
    var replacingDots: String { String(map { $0 == "." ? "_" : $0 }) }
    var replacingUnderscoresWithDots: String { String(map { $0 == "_" ? "." : $0 }) }
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let r = rest.range(of: target) {
            result += rest[..<r.lowerBound] + replacement
            rest = rest[r.upperBound...]
        }
        return result + rest
    }
}
