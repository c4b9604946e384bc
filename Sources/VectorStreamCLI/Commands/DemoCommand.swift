import ArgumentParser
import Foundation
import VectorStreamCore
import VectorStreamGenerator
import VectorStreamServer

/// Generator, pipeline and API in one process on the embedded stores: what a newcomer runs first.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate events, run the pipeline on embedded stores and serve the API and dashboard.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Stop after this many events and print a summary (default: run until interrupted).")
    var events: Int?

    @Option(help: "Events per second (default: as fast as the pipeline takes them).")
    var rate: Double?

    @Option(help: "Generator seed.")
    var seed: UInt64 = 42

    @Option(help: "Products in the catalog.")
    var products = 2_000

    @Option(help: "Share of malformed events mixed in, each kind in turn.")
    var invalidRatio = 0.005

    @Option(help: "Micro-batch trigger interval for the demo (the configuration's default is Spark's 10s).")
    var trigger = "100ms"

    @Option(help: "HTTP host.") var host: String?
    @Option(help: "HTTP port.") var port: Int?

    @Flag(help: "Print the summary as one JSON object on stdout.")
    var json = false

    @Flag(help: "Keep the demo's data directory from an earlier run instead of starting clean.")
    var keepData = false

    func validate() throws {
        if let events, events < 1 { throw ValidationError("--events must be at least 1") }
        if let rate, !(rate > 0) { throw ValidationError("--rate must be positive") }
        if products < 1 { throw ValidationError("--products must be at least 1") }
        if !(0...1).contains(invalidRatio) { throw ValidationError("--invalid-ratio must be between 0 and 1") }
    }

    func run() async throws {
        var config = try global.loadConfiguration()
        config.pipeline.triggerInterval = try parseDuration(trigger)
        if let host { config.http.host = host }
        if let port { config.http.port = port }
        let registry = Observability.bootstrap(logLevel: global.logLevel)
        let logger = global.makeLogger("vectorstream.demo")

        let dataDirectory = global.dataDir ?? (config.dataDirectory as NSString).appendingPathComponent("demo")
        if !keepData { try? FileManager.default.removeItem(atPath: dataDirectory) }
        FileHandle.standardError.write(Data("vectorstream: loading the model and opening stores in \(dataDirectory)\n".utf8))
        let assembly = try await PipelineAssembly.make(configuration: config, dataDirectory: dataDirectory, logger: logger)

        var generatorConfig = GeneratorConfiguration(seed: seed, productCount: products, invalidRatio: invalidRatio)
        generatorConfig.liveTimestamps = true
        let generator = EventGenerator(configuration: generatorConfig)
        var engineConfig = config.engine
        engineConfig.maxEventsPerTrigger = min(engineConfig.maxEventsPerTrigger, 20_000)
        let source = GeneratorSource(generator: generator, events: events, rate: rate,
                                     bufferCapacity: engineConfig.maxEventsPerTrigger * 2)

        var runner = PipelineRunner(
            assembly: assembly, engineConfiguration: engineConfig,
            http: APIServerConfiguration(host: config.http.host, port: config.http.port, apiKey: config.http.apiKey,
                                         maxBodyBytes: config.http.maxBodyBytes, readTimeout: config.http.readTimeout,
                                         breakerFailureThreshold: config.http.breakerFailureThreshold,
                                         breakerCooldown: config.http.breakerCooldown),
            registry: registry, logger: logger, expectedEvents: events)
        runner.serveAfterSource = events == nil
        let stats = try await runner.run(source: source)
        let summary = try await Summary.make(stats: stats, assembly: assembly, dataDirectory: dataDirectory)
        await assembly.shutdown()
        summary.print(json: json)
    }
}

/// The end-of-run summary: the engine's figures and what the stores hold.
struct Summary {
    var fields: [(String, Any)]

    static func make(stats: PipelineStats, assembly: PipelineAssembly, dataDirectory: String) async throws -> Summary {
        var fields: [(String, Any)] = [
            ("events_total", stats.eventsTotal), ("events_valid", stats.eventsValid),
            ("events_rejected", stats.eventsRejected), ("events_deduplicated", stats.eventsDeduplicated),
            ("events_stored", stats.eventsStored), ("products_embedded", stats.productsEmbedded),
            ("embedding_cache_hits", stats.embeddingCacheHits), ("batches", stats.batches),
            ("batch_retries", stats.batchRetries),
            ("elapsed_seconds", round3(stats.elapsedSeconds)), ("events_per_second", round3(stats.eventsPerSecond)),
            ("events_per_second_steady", round3(stats.steadyEventsPerSecond)),
            ("latency_p50_ms", round3(stats.latencyP50Millis)), ("latency_p99_ms", round3(stats.latencyP99Millis)),
            ("latency_max_ms", round3(stats.latencyMaxMillis)), ("dedup_us_per_event", round3(stats.dedupMicrosPerEvent)),
        ]
        var store: [String: Any] = ["events": try await assembly.analytics.eventCount(),
                                    "vectors": try await assembly.vectors.count()]
        if assembly.configuration.kafka.brokers != nil {
            store["dead_letters"] = "topic \(assembly.configuration.kafka.deadLetterTopic)"
        } else if let sqlite = assembly.sqliteEvents {
            store["dead_letters"] = try await sqlite.deadLetterCount()
            store["dead_letters_by_reason"] = try await sqlite.deadLettersByCode()
            store["dead_letter_file"] = (dataDirectory as NSString).appendingPathComponent(assembly.configuration.pipeline.deadLetterFile)
        }
        store["vectors_upserted_all_runs"] = try assembly.database.counter("vectors_upserted")
        fields.append(("store", store))
        fields.append(("model_version", assembly.embedder.modelVersion))
        fields.append(("data_dir", dataDirectory))
        return Summary(fields: fields)
    }

    static func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

    func print(json: Bool) {
        if json {
            let object = Dictionary(fields, uniquingKeysWith: { a, _ in a })
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            Swift.print(String(decoding: data, as: UTF8.self))
        } else {
            for (key, value) in fields {
                Swift.print("\(key.padding(toLength: 26, withPad: " ", startingAt: 0)) \(value)")
            }
        }
    }
}
