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

    // MARK: issue 21

    /// Every key that can hold a secret: secret keys, and any key that accepts a URL (its user-info).
    @Test func renderingMasksEverySecretAndEveryURLsPassword() throws {
        var c = VectorStreamConfiguration()
        var planted: [String: String] = [:]
        for (index, setting) in VectorStreamConfiguration.keys.enumerated() {
            let secret = "pw\(index)x9"
            for candidate in ["http://bob:\(secret)@host:1/db", "redis://bob:\(secret)@host:6379/2", "https://\(secret)@host:1"] {
                if (try? setting.apply(candidate, to: &c, from: "f.yaml")) != nil {
                    planted[setting.key] = secret
                    break
                }
            }
            if setting.isSecret {
                try setting.apply("plain-\(secret)", to: &c, from: "f.yaml")
                planted[setting.key] = secret
            }
        }
        for property in ["sasl.password", "ssl.key.password", "sasl.oauthbearer.client.secret", "sasl.jaas.config",
                         "ssl.keystore.password", "sasl.oauthbearer.token.endpoint.url"] {
            c.kafka.properties[property] = property == "sasl.oauthbearer.token.endpoint.url"
                ? "https://svc:prop-\(property)@idp/token" : "prop-\(property)"
        }
        // The URL keys the issue names, at least, take URLs.
        for key in ["clickhouse.url", "vector_db.milvus_url", "vector_db.qdrant_url", "redis.url", "kafka.brokers"] {
            #expect(planted[key] != nil, "\(key) did not take a URL")
        }
        let text = c.rendered()
        for (key, secret) in planted { #expect(!text.contains(secret), "\(key)'s secret shown: \(text)") }
        #expect(!text.contains("prop-"), "a kafka property's secret shown")
        #expect(text.contains("http://bob:****@host:1/db"))
        // Names that say "secret" are marked secret.
        for setting in VectorStreamConfiguration.keys
        where ["password", "token", "api_key", "secret"].contains(where: { setting.key.contains($0) }) {
            #expect(setting.isSecret, "\(setting.key)")
        }
    }

    @Test func maskURLKeepsTheRestReadable() {
        #expect(VectorStreamConfiguration.maskURL("http://bob:urlpw@ch:8123/?x=1") == "http://bob:****@ch:8123/?x=1")
        #expect(VectorStreamConfiguration.maskURL("https://tok@milvus:443") == "https://****@milvus:443")
        #expect(VectorStreamConfiguration.maskURL("http://h:1/p?user=a&password=b") == "http://h:1/p?user=a&password=****")
        #expect(VectorStreamConfiguration.maskURL("http://h:1/a@b") == "http://h:1/a@b")
        #expect(VectorStreamConfiguration.maskURLs(in: "SASL_SSL://u:p1@a:9092,u:p2@b:9092") == "SASL_SSL://u:****@a:9092,u:****@b:9092")
    }

    @Test func unknownFileKeysAreAllReportedWithTheNearestKey() {
        var c = VectorStreamConfiguration()
        do {
            try c.apply(file: ["pipeline.trigger_intervall": "1s", "kafka.brokerz": "k:9092", "zzz.qqq": "1",
                               "kafka.properties.sasl.mechanism": "PLAIN"],
                        origin: "f.yaml", environment: [:])
            Issue.record("accepted unknown keys")
        } catch {
            let text = "\(error)"
            #expect(text.contains("3 unknown keys"), "\(text)")
            #expect(text.contains("'pipeline.trigger_intervall' (did you mean 'pipeline.trigger_interval'?)"), "\(text)")
            #expect(text.contains("'kafka.brokerz' (did you mean 'kafka.brokers'?)"), "\(text)")
            #expect(text.contains("'zzz.qqq'"))
            #expect(!text.contains("kafka.session_timeout_ms"), "lists every key instead of the nearest: \(text)")
            #expect(!text.contains("\n"))
        }
        // kafka.properties is a key of its own in the listing.
        #expect(VectorStreamConfiguration.keyListing.contains { $0.key.hasPrefix("kafka.properties.") && $0.environment.hasPrefix("VECTORSTREAM_KAFKA_PROPERTY_") })
    }

    @Test func mistypedVariablesAreWarnedWithTheNearestName() {
        let warnings = VectorStreamConfiguration.environmentWarnings([
            "VECTORSTREAM_TRIGER_INTERVAL": "1s", "VECTORSTREAM_KAFKA_BROKER": "k:9092", "VECTORSTREAM_TRIGGER_INTERVAL": "1s",
            "VECTORSTREAM_KAFKA_PROPERTY_SASL_MECHANISM": "PLAIN", "VECTORSTREAM_CONFIG": "x.yaml", "HOME": "/root",
            "VECTORSTREAM_COMPLETELY_DIFFERENT_THING": "1",
        ])
        #expect(warnings.count == 3, "\(warnings)")
        #expect(warnings.contains { $0.contains("VECTORSTREAM_TRIGER_INTERVAL") && $0.contains("did you mean VECTORSTREAM_TRIGGER_INTERVAL?") })
        #expect(warnings.contains { $0.contains("VECTORSTREAM_KAFKA_BROKER ") && $0.contains("did you mean VECTORSTREAM_KAFKA_BROKERS?") })
        #expect(warnings.contains { $0.contains("VECTORSTREAM_COMPLETELY_DIFFERENT_THING") && !$0.contains("did you mean") })
    }

    @Test func triggerIntervalNeedsAUnitAndStaysInBounds() throws {
        #expect(throws: ConfigurationError.self) { try parseDuration("10") }
        var c = VectorStreamConfiguration()
        do {
            try c.apply(file: [:], origin: "f", environment: ["VECTORSTREAM_TRIGGER_INTERVAL": "10"])
            Issue.record("a bare number was taken as a duration")
        } catch {
            let text = "\(error)"
            #expect(text.contains("VECTORSTREAM_TRIGGER_INTERVAL") && text.contains("pipeline.trigger_interval"), "\(text)")
            #expect(text.contains("10s") && text.contains("10ms"), "\(text)")
        }
        for bad in ["99999999999s", "2h", "0ms", "500us", "-1s", "1e300s"] {
            #expect(throws: ConfigurationError.self, "\(bad)") {
                var c = VectorStreamConfiguration()
                try c.apply(file: ["pipeline.trigger_interval": bad], origin: "f.yaml", environment: [:])
            }
        }
        try c.apply(file: ["pipeline.trigger_interval": "1ms"], origin: "f.yaml", environment: [:])
        #expect(c.pipeline.triggerInterval == .milliseconds(1))
        try c.apply(file: ["pipeline.trigger_interval": "1h"], origin: "f.yaml", environment: [:])
        #expect(c.pipeline.triggerInterval == .seconds(3600))
        do {
            try c.apply(file: ["pipeline.trigger_interval": "99999999999s"], origin: "f.yaml", environment: [:])
        } catch {
            #expect("\(error)".contains("1ms...1h"), "\(error)")
        }
    }

    @Test func errorsNameTheVariableThatSetTheValue() throws {
        var c = VectorStreamConfiguration()
        do {
            try c.apply(file: [:], origin: "f", environment: ["VECTORSTREAM_REDIS_URL": "localhost:6379"])
            Issue.record("accepted a URL without scheme")
        } catch {
            #expect("\(error)".contains("VECTORSTREAM_REDIS_URL"), "\(error)")
            #expect("\(error)".contains("redis://"), "\(error)")
        }
        c = VectorStreamConfiguration()
        try c.apply(file: ["kafka.topic": "t"], origin: "my.yaml", environment: ["VECTORSTREAM_MODEL_DIR": "/nowhere"])
        #expect(c.describe("embedder.model_dir") == "embedder.model_dir (set by VECTORSTREAM_MODEL_DIR)")
        #expect(c.describe("kafka.topic") == "kafka.topic (set in my.yaml)")
        #expect(c.describe("kafka.group_id") == "kafka.group_id")
    }
}
