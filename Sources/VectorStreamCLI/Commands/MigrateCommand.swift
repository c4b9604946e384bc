import ArgumentParser
import Foundation
import VectorStreamClickHouse
import VectorStreamCore

/// `vectorstream migrate`: creates or updates the ClickHouse schema. Idempotent; prints what it applied.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or update the ClickHouse schema (idempotent, versioned).")

    @Option(name: .customLong("clickhouse-url"),
            help: "ClickHouse HTTP URL (default: $VECTORSTREAM_CLICKHOUSE_URL).")
    var clickhouseURL: String?

    @Option(help: "Database (default: $VECTORSTREAM_CLICKHOUSE_DATABASE or vectorstream).")
    var database: String?

    mutating func run() async throws {
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
