import Testing
import VectorStreamCore

@Suite("Configuration")
struct ConfigurationTests {
    @Test func defaultsMatchTheDocumentation() {
        let c = VectorStreamConfiguration()
        #expect(c.pipeline.triggerInterval == .seconds(10))
        #expect(c.kafka.topic == "ecommerce-events")
        #expect(c.kafka.groupID == "vectorstream")
        #expect(c.http.port == 8080)
        #expect(c.redis.url == nil)
        #expect(c.embedder.precision == "fp32")
        #expect(c.clickhouse.storeRawJSON == false)
    }

    @Test func environmentOverridesTheFile() throws {
        var c = VectorStreamConfiguration()
        try c.apply(file: ["pipeline.trigger_interval": "2s", "http.port": "9000", "kafka.topic": "from-file",
                           "clickhouse.store_raw_json": "true"],
                    origin: "test.yaml",
                    environment: ["VECTORSTREAM_KAFKA_TOPIC": "from-env", "VECTORSTREAM_TRIGGER_INTERVAL": "250ms",
                                  "VECTORSTREAM_KAFKA_PROPERTY_SASL_MECHANISM": "PLAIN",
                                  "VECTORSTREAM_CLICKHOUSE_STORE_RAW_JSON": "off"])
        #expect(c.pipeline.triggerInterval == .milliseconds(250))
        #expect(c.http.port == 9000)
        #expect(c.kafka.topic == "from-env")
        #expect(c.kafka.properties["sasl.mechanism"] == "PLAIN")
        #expect(c.clickhouse.storeRawJSON == false)
        var fromFile = VectorStreamConfiguration()
        try fromFile.apply(file: ["clickhouse.store_raw_json": "yes"], origin: "test.yaml", environment: [:])
        #expect(fromFile.clickhouse.storeRawJSON == true)
    }

    @Test func rejectsUnknownKeysAndBadValuesClearly() {
        var c = VectorStreamConfiguration()
        #expect(throws: ConfigurationError.self) { try c.apply(file: ["pipeline.tigger": "1s"], origin: "f.yaml", environment: [:]) }
        do {
            try c.apply(file: ["http.port": "eighty"], origin: "f.yaml", environment: [:])
            Issue.record("accepted a bad port")
        } catch {
            #expect("\(error)".contains("http.port"))
            #expect("\(error)".contains("eighty"))
        }
        #expect(throws: ConfigurationError.self) { try c.apply(file: [:], origin: "f", environment: ["VECTORSTREAM_REDIS_URL": "localhost:6379"]) }
        #expect(throws: ConfigurationError.self) { try c.apply(file: [:], origin: "f", environment: ["VECTORSTREAM_TRIGGER_INTERVAL": "soon"]) }
        #expect(throws: ConfigurationError.self) { try c.apply(file: ["embedder.precision": "fp16"], origin: "f", environment: [:]) }
        try? c.apply(file: ["embedder.precision": "fp32"], origin: "f", environment: ["VECTORSTREAM_EMBEDDER_PRECISION": "BF16"])
        #expect(c.embedder.precision == "bf16")
    }

    @Test func renderingMasksSecrets() throws {
        var c = VectorStreamConfiguration()
        try c.apply(file: ["kafka.properties.sasl.password": "hunter2"], origin: "f",
                    environment: ["VECTORSTREAM_REDIS_URL": "redis://app:s3cret@cache:6379/2", "VECTORSTREAM_API_KEY": "k-123",
                                  "VECTORSTREAM_CLICKHOUSE_PASSWORD": "chpass"])
        let text = c.rendered()
        for secret in ["s3cret", "k-123", "chpass", "hunter2"] { #expect(!text.contains(secret), "\(secret) leaked") }
        #expect(text.contains("redis://app:****@cache:6379/2"))
    }

    @Test func durations() throws {
        #expect(try parseDuration("10s") == .seconds(10))
        #expect(try parseDuration("5ms") == .milliseconds(5))
        #expect(try parseDuration("1.5m") == .seconds(90))
        #expect(formatDuration(.milliseconds(250)) == "250ms")
        #expect(throws: ConfigurationError.self) { try parseDuration("-1s") }
    }
}
