import ArgumentParser
import Foundation
import VectorStreamCore
import VectorStreamServer

/// The API with `POST /v1/ingest` and no stream of its own: events come from clients (a Spark job's sink, webhooks,
/// batch jobs) and go through the same stages as a stream's batches.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the API with POST /v1/ingest and no stream source (Kafka, if configured, only takes dead letters and notices).",
        discussion: """
            Each POST /v1/ingest (a JSON array of events, or JSON lines) is validated, deduplicated, embedded and \
            stored before it is answered with the counts; see docs/api.md and integrations/spark.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "HTTP host.") var host: String?
    @Option(help: "HTTP port.") var port: Int?
    @Flag(help: "Print the summary as one JSON object on stdout when stopped.") var json = false

    func run() async throws {
        var config = try global.loadConfiguration()
        try config.applyFlags(trigger: nil, host: host, port: port)
        try Preflight.checkModel(config)
        try Preflight.checkPortFree(config)
        let registry = Observability.bootstrap(logLevel: global.logLevel)
        let logger = global.makeLogger("vectorstream.serve")
        let assembly = try await PipelineAssembly.make(configuration: config, dataDirectory: config.dataDirectory,
                                                       logger: logger)
        let ingest = assembly.ingestService(engine: config.engine)
        var runner = PipelineRunner(
            assembly: assembly, engineConfiguration: config.engine,
            http: APIServerConfiguration(host: config.http.host, port: config.http.port, apiKey: config.http.apiKey,
                                         maxBodyBytes: config.http.maxBodyBytes, readTimeout: config.http.readTimeout,
                                         breakerFailureThreshold: config.http.breakerFailureThreshold,
                                         breakerCooldown: config.http.breakerCooldown),
            registry: registry, logger: logger, expectedEvents: nil)
        runner.shutdownGrace = config.pipeline.shutdownGrace
        runner.serveAfterSource = true
        runner.ingest = ingest
        _ = try await runner.run(source: NoEventSource())
        ingest.pipeline.requestStop()
        let summary = try await Summary.make(stats: ingest.pipeline.stats, assembly: assembly, dataDirectory: config.dataDirectory)
        await assembly.shutdown()
        summary.print(json: json)
    }
}
