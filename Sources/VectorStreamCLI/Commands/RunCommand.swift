import ArgumentParser
import Foundation
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamGenerator
import VectorStreamKafka
import VectorStreamServer

/// The pipeline as it runs in production: one worker of a consumer group, or over a file, stdin or the generator.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the pipeline: from Kafka when kafka.brokers is set, else from --source.",
        discussion: """
            --source FILE reads JSON lines and resumes from the committed byte offset after a restart;
            --source - reads stdin; --source generator runs the built-in generator.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "JSON-lines file, '-' for stdin, or 'generator' (ignored when Kafka brokers are configured).")
    var source: String?

    @Flag(help: "Keep reading a --source file as it grows (like tail -f).")
    var follow = false

    @Option(help: "Exit once nothing new has arrived for this many seconds, printing the summary.")
    var untilIdle: Double?

    @Option(help: "Events for --source generator.") var events: Int?
    @Option(help: "Events per second for --source generator.") var rate: Double?
    @Option(help: "Micro-batch trigger interval (overrides pipeline.trigger_interval).") var trigger: String?
    @Option(help: "HTTP host.") var host: String?
    @Option(help: "HTTP port.") var port: Int?
    @Flag(help: "Do not serve the HTTP API.") var noServer = false
    @Flag(help: "Print the summary as one JSON object on stdout.") var json = false

    func run() async throws {
        var config = try global.loadConfiguration()
        try config.applyFlags(trigger: trigger, host: host, port: port)
        if config.kafka.brokers == nil && source == nil {
            throw CLIError("nothing to read: give --source FILE|-|generator, or set kafka.brokers (VECTORSTREAM_KAFKA_BROKERS)")
        }
        // Everything that can be checked up front is, before the model loads or anything is read.
        try Preflight.checkModel(config)
        if !noServer { try Preflight.checkPortFree(config) }
        let registry = Observability.bootstrap(logLevel: global.logLevel)
        let logger = global.makeLogger("vectorstream.run")
        var kafka: KafkaConfiguration?
        if config.kafka.brokers != nil {
            let settings = try KafkaConfiguration(settings: config.kafka, clientID: config.pipeline.workerID)
            try await Preflight.checkKafka(settings, setting: config.describeInline("kafka.brokers"),
                                           change: config.howToChange("kafka.brokers"), logger: logger)
            kafka = settings
        }
        let assembly = try await PipelineAssembly.make(configuration: config, dataDirectory: config.dataDirectory,
                                                       logger: logger)
        let eventSource: any EventSource
        var kafkaSource: KafkaEventSource?
        switch source {
        case _ where kafka != nil:
            let consumer: KafkaEventSource
            do {
                consumer = try await KafkaEventSource(configuration: kafka!, logger: logger)
            } catch let error as KafkaError {
                await assembly.shutdown()
                throw CLIError("Kafka at \(VectorStreamConfiguration.maskURLs(in: kafka!.bootstrapServers)) "
                               + "(\(config.describeInline("kafka.brokers"))): \(error.message); check that the brokers are up "
                               + "and reachable, or set \(config.howToChange("kafka.brokers"))")
            }
            kafkaSource = consumer
            eventSource = consumer
        case nil:
            throw CLIError("nothing to read: give --source FILE|-|generator, or set kafka.brokers (VECTORSTREAM_KAFKA_BROKERS)")
        case "-":
            eventSource = try JSONLinesFileSource(path: "/dev/stdin", database: nil)
        case "generator":
            eventSource = GeneratorSource(generator: EventGenerator(), events: events, rate: rate)
        case let path?:
            eventSource = try JSONLinesFileSource(path: path, database: assembly.database, follow: follow)
        }
        var runner = PipelineRunner(
            assembly: assembly, engineConfiguration: config.engine,
            http: noServer ? nil : APIServerConfiguration(host: config.http.host, port: config.http.port,
                                                          apiKey: config.http.apiKey, maxBodyBytes: config.http.maxBodyBytes,
                                                          readTimeout: config.http.readTimeout,
                                                          breakerFailureThreshold: config.http.breakerFailureThreshold,
                                                          breakerCooldown: config.http.breakerCooldown),
            registry: registry, logger: logger, expectedEvents: events)
        runner.untilIdle = untilIdle.map { .milliseconds(Int64($0 * 1000)) }
        runner.shutdownGrace = config.pipeline.shutdownGrace
        if let kafkaSource, let quiet = runner.untilIdle { runner.isCaughtUp = { await kafkaSource.isCaughtUp(quietFor: quiet, wholeGroup: true) } }
        let stats = try await runner.run(source: eventSource)
        await kafkaSource?.close()
        let summary = try await Summary.make(stats: stats, assembly: assembly, dataDirectory: config.dataDirectory)
        await assembly.shutdown()
        summary.print(json: json)
    }
}
