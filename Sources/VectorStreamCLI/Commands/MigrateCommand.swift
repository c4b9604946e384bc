import ArgumentParser
import Foundation
import VectorStreamClickHouse
import VectorStreamCore
import VectorStreamPostgres

/// `vectorstream migrate`: creates or updates the ClickHouse schema and, when PostgreSQL is configured, the metrics
/// history's. Idempotent; prints what it applied.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or update the ClickHouse schema and the PostgreSQL metrics history (idempotent, versioned).")

    @Option(name: .customLong("clickhouse-url"),
            help: "ClickHouse HTTP URL (default: $VECTORSTREAM_CLICKHOUSE_URL).")
    var clickhouseURL: String?

    @Option(help: "Database (default: $VECTORSTREAM_CLICKHOUSE_DATABASE or vectorstream).")
    var database: String?

    @Option(name: .customLong("postgres-url"),
            help: "PostgreSQL URL of the metrics history (default: $VECTORSTREAM_POSTGRES_URL; a password is better kept in the variable).")
    var postgresURL: String?

    mutating func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let postgres = (postgresURL ?? environment["VECTORSTREAM_POSTGRES_URL"]).flatMap { $0.isEmpty ? nil : $0 }
        let clickhouse = (clickhouseURL ?? environment["VECTORSTREAM_CLICKHOUSE_URL"]).flatMap { $0.isEmpty ? nil : $0 }
        guard clickhouse != nil || postgres != nil else {
            throw ValidationError("nothing to migrate: pass --clickhouse-url or set VECTORSTREAM_CLICKHOUSE_URL (events), "
                                  + "--postgres-url or VECTORSTREAM_POSTGRES_URL (metrics history)")
        }
        if clickhouse != nil { try await migrateClickHouse() }
        if let postgres {
            var retention: Duration = .seconds(30 * 86_400)
            if let text = environment["VECTORSTREAM_POSTGRES_RETENTION"] {
                do { retention = try parseDuration(text, within: .seconds(60) ... .seconds(366 * 86_400)) } catch let error as ConfigurationError {
                    throw ValidationError("VECTORSTREAM_POSTGRES_RETENTION=\(text): \(error.description)")
                }
            }
            let (endpoint, report, maintenance) = try await MetricsSchema.migrateOnce(url: postgres, retention: retention)
            print("PostgreSQL at \(endpoint): metrics history on \(report.storage.rawValue) storage")
            print(report.applied.isEmpty ? "schema is current (version \(report.version))"
                  : "applied migrations \(report.applied.map(String.init).joined(separator: ", ")); schema version \(report.version)")
            if case .done(let created, let dropped) = maintenance, !(created.isEmpty && dropped.isEmpty) {
                print("partitions: \(created.count) created, \(dropped.count) dropped after the retention")
            }
        }
    }

    private func migrateClickHouse() async throws {
        let configuration = try ClickHouseCommandSupport.configuration(url: clickhouseURL, database: database)
        let store = ClickHouseEventStore(configuration: configuration)
        do {
            let report = try await store.prepare()
            print("ClickHouse \(report.serverVersion) at \(VectorStreamConfiguration.maskURL(configuration.url)), "
                + "database \(configuration.database)")
            print(report.applied.isEmpty
                ? "schema is current (version \(report.currentVersion))"
                : "applied migrations \(report.applied.map(String.init).joined(separator: ", ")); "
                    + "schema version \(report.currentVersion)")
            try await store.shutdown()
        } catch {
            try? await store.shutdown()
            throw error
        }
    }
}

enum ClickHouseCommandSupport {
    /// URL and database from the flags, else the environment; user and password from the environment only,
    /// so a password never appears in a process listing.
    static func configuration(url: String?, database: String?) throws -> ClickHouseConfiguration {
        let environment = ProcessInfo.processInfo.environment
        guard let url = url ?? environment["VECTORSTREAM_CLICKHOUSE_URL"], !url.isEmpty else {
            throw ValidationError("no ClickHouse URL: pass --clickhouse-url or set VECTORSTREAM_CLICKHOUSE_URL")
        }
        var config = VectorStreamConfiguration()
        config.clickhouse.url = url
        if let database = database ?? environment["VECTORSTREAM_CLICKHOUSE_DATABASE"], !database.isEmpty {
            config.clickhouse.database = database
        }
        if let user = environment["VECTORSTREAM_CLICKHOUSE_USER"], !user.isEmpty { config.clickhouse.user = user }
        config.clickhouse.password = environment["VECTORSTREAM_CLICKHOUSE_PASSWORD"]
        do {
            try config.validate()
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        return ClickHouseConfiguration(config.clickhouse)!
    }
}
