import ArgumentParser
import Foundation
import VectorStreamCore
import VectorStreamGenerator

/// The embedded pipeline end to end, no HTTP: the figure BENCHMARKS.md records for `demo`.
struct BenchPipelineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline", abstract: "Generated events through the embedded pipeline; prints the JSON summary.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Events to generate.") var events = 200_000
    @Option(help: "Products in the catalog.") var products = 2_000
    @Option(help: "Share of malformed events.") var invalidRatio = 0.0
    @Option(help: "Trigger interval.") var trigger = "100ms"
    @Option(help: "Most events per micro-batch.") var maxBatch = 20_000

    func run() async throws {
        var config = try global.loadConfiguration()
        do {
            config.pipeline.triggerInterval = try parseDuration(trigger, within: triggerIntervalBounds)
        } catch let error as ConfigurationError {
            throw CLIError("--trigger \(trigger): \(error.description)")
        }
        config.pipeline.maxEventsPerTrigger = maxBatch
        let registry = Observability.bootstrap(logLevel: global.logLevel)
        let logger = global.makeLogger("vectorstream.bench")
        let dataDirectory = global.dataDir ?? (config.dataDirectory as NSString).appendingPathComponent("bench-pipeline")
        try? FileManager.default.removeItem(atPath: dataDirectory)
        let assembly = try await PipelineAssembly.make(configuration: config, dataDirectory: dataDirectory, logger: logger)
        var generatorConfig = GeneratorConfiguration(productCount: products, invalidRatio: invalidRatio)
        generatorConfig.liveTimestamps = true
        let source = GeneratorSource(generator: EventGenerator(configuration: generatorConfig), events: events, rate: nil,
                                     bufferCapacity: maxBatch * 2)
        let runner = PipelineRunner(assembly: assembly, engineConfiguration: config.engine, http: nil, registry: registry,
                                    logger: logger, expectedEvents: events)
        let stats = try await runner.run(source: source)
        let summary = try await Summary.make(stats: stats, assembly: assembly, dataDirectory: dataDirectory)
        await assembly.shutdown()
        summary.print(json: true)
    }
}
