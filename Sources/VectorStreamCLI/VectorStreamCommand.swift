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
        subcommands: [DemoCommand.self, RunCommand.self, ServeCommand.self, GenerateCommand.self, EmbedCommand.self, ConfigCommand.self,
                      MigrateCommand.self, BenchCommand.self, ImportCommand.self, FilesCommand.self]
    )

    /// ArgumentParser's own `main`, except for what goes wrong once a command runs: a configuration or runtime
    /// error is one line on stderr (`vectorstream: ...`) and exit status 1, without the usage block that only
    /// fits a mistyped command line (those still get it, from parsing and `validate()`).
    static func main() async {
        let command: any ParsableCommand
        do {
            command = try await asyncParseAsRoot(CommandLineRewrite.arguments(Array(CommandLine.arguments.dropFirst())))
        } catch {
            exit(withError: error)
        }
        do {
            var command = command
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ExitCode {
            exit(withError: error)
        } catch let error as CleanExit {
            exit(withError: error)
        } catch where !(error is ArgumentParser.ValidationError) && String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // --help, --version, completions: the built-in commands answer through errors of their own.
            exit(withError: error)
        } catch {
            printError(CLIError.message(for: error))
            Foundation.exit((error as? CLIError)?.exitCode ?? 1)
        }
    }
}

/// Rewrites the command line before parsing: `--jsonl=FILE` (an option in earlier versions, now a flag that
/// takes the file as its argument) becomes `--jsonl FILE`.
enum CommandLineRewrite {
    static func arguments(_ arguments: [String]) -> [String] {
        arguments.flatMap { argument -> [String] in
            if argument.hasPrefix("--jsonl=") { return ["--jsonl", String(argument.dropFirst("--jsonl=".count))] }
            return [argument]
        }
    }
}

/// A failure said so that the user can act on it: what is wrong, which setting or flag, what to do. Printed as
/// one line, without the usage block.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    var exitCode: Int32 = 1

    init(_ description: String, exitCode: Int32 = 1) {
        self.description = description
        self.exitCode = exitCode
    }

    /// The one line shown for any error that ends a command.
    static func message(for error: any Error) -> String {
        switch error {
        case let error as CLIError: return error.description
        case let error as ConfigurationError: return error.description
        case let error as ArgumentParser.ValidationError: return error.message
        case let error as LocalizedError where error.errorDescription != nil: return error.errorDescription!
        default: return String(describing: error).replacingOccurrences(of: "\n", with: " ")
        }
    }
}

/// Options every command that reads the configuration shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "YAML configuration file (default: $VECTORSTREAM_CONFIG, else ./vectorstream.yaml if present).")
    var config: String?

    @Option(name: .long, help: "Directory of the embedded stores (overrides data_dir).")
    var dataDir: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = ProcessInfo.processInfo.environment["VECTORSTREAM_LOG_LEVEL"] ?? "notice"

    /// The effective configuration; a mistyped `VECTORSTREAM_...` variable is warned about on stderr.
    func loadConfiguration() throws -> VectorStreamConfiguration {
        var c = try ConfigLoader.load(explicitPath: config, warn: true)
        if let dataDir {
            c.dataDirectory = dataDir
            c.origins["data_dir"] = "--data-dir"
        }
        return c
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
        // Client libraries repeat themselves (librdkafka logs every failed connect); repeats are collapsed.
        let repeats = RepeatedLogLines()
        LoggingSystem.bootstrap { label in
            var handler = CollapsingLogHandler(StreamLogHandler.standardError(label: label), repeats: repeats, label: label)
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
        if keys {
            Swift.print(Self.keyTable())
            return
        }
        let config = try global.loadConfiguration()
        if print {
            Swift.print(config.rendered())
            // What only the machine can tell (a model directory that is not there) is said, not hidden.
            for problem in Preflight.problems(config) { printError("warning: \(problem)") }
            return
        }
        let problems = Preflight.problems(config)
        guard problems.isEmpty else {
            throw CLIError("configuration is invalid: " + problems.joined(separator: "; "))
        }
        Swift.print("configuration is valid (use --print to show it)")
    }

    /// Every key, its variable and what it sets, in columns as wide as the longest name.
    static func keyTable() -> String {
        let rows = VectorStreamConfiguration.keyListing
        let keyWidth = rows.map(\.key.count).max() ?? 0
        let envWidth = rows.map(\.environment.count).max() ?? 0
        return rows.map { row in
            row.key.padding(toLength: keyWidth, withPad: " ", startingAt: 0) + "  "
                + row.environment.padding(toLength: envWidth, withPad: " ", startingAt: 0) + "  " + row.help
        }.joined(separator: "\n")
    }
}

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks; see BENCHMARKS.md for the figures and benchmarks/ for the scripts.",
        subcommands: [BenchPipelineCommand.self, BenchEmbedCommand.self, BenchAPICommand.self,
                      BenchClickHouseCommand.self, BenchVectorsCommand.self, BenchDedupCommand.self, BenchKafkaCommand.self, BenchS3Command.self,
                      BenchMetricsCommand.self])
}
