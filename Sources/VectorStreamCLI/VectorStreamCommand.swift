import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import VectorStreamCore

@main
struct VectorStreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vectorstream",
        abstract: "Real-time shop events to product vectors: Kafka → validate → dedup → embed → vector DB → API.",
        subcommands: [DemoCommand.self, RunCommand.self, GenerateCommand.self, EmbedCommand.self, ConfigCommand.self,
                      MigrateCommand.self, BenchCommand.self]
    )
}

/// Options every command that reads the configuration shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "YAML configuration file (default: $VECTORSTREAM_CONFIG, else ./vectorstream.yaml if present).")
    var config: String?

    @Option(name: .long, help: "Directory of the embedded stores (overrides data_dir).")
    var dataDir: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = ProcessInfo.processInfo.environment["VECTORSTREAM_LOG_LEVEL"] ?? "notice"

    func loadConfiguration() throws -> VectorStreamConfiguration {
        do {
            var c = try ConfigLoader.load(explicitPath: config)
            if let dataDir { c.dataDirectory = dataDir }
            return c
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    func makeLogger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .notice
        return logger
    }
}

/// Logging and metrics are process-wide; bootstrapped once, by the command that runs.
enum Observability {
    static func bootstrap(logLevel: String) -> PrometheusCollectorRegistry {
        let level = Logger.Level(rawValue: logLevel) ?? .notice
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Show or check the effective configuration (secrets masked).")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Print the effective configuration as YAML.")
    var print = false

    @Flag(name: .long, help: "List every key with its environment variable.")
    var keys = false

    func run() async throws {
        let config = try global.loadConfiguration()
        if keys {
            for key in VectorStreamConfiguration.keys {
                Swift.print("\(key.key.padding(toLength: 36, withPad: " ", startingAt: 0)) \(key.environment.padding(toLength: 40, withPad: " ", startingAt: 0)) \(key.help)")
            }
            return
        }
        if print {
            Swift.print(config.rendered())
        } else {
            Swift.print("configuration is valid (use --print to show it)")
        }
    }
}

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks; see BENCHMARKS.md for the figures and benchmarks/ for the scripts.",
        subcommands: [BenchPipelineCommand.self, BenchEmbedCommand.self, BenchAPICommand.self,
                      BenchClickHouseCommand.self, BenchVectorsCommand.self, BenchDedupCommand.self, BenchKafkaCommand.self])
}
