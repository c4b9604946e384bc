import ArgumentParser
import Foundation
import VectorStreamClickHouse
import VectorStreamCore

/// `vectorstream bench clickhouse`: insert throughput through the event sink, then analytics latency.
struct BenchClickHouseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clickhouse",
        abstract: "Insert N events through the ClickHouse sink, then time every analytics query.")

    @Option(name: .customLong("clickhouse-url"),
            help: "ClickHouse HTTP URL (default: $VECTORSTREAM_CLICKHOUSE_URL).")
    var clickhouseURL: String?

    @Option(help: "Database, dropped and recreated first.")
    var database = "vectorstream_bench"

    @Option(help: "Events to insert.")
    var events = 10_000_000

    @Option(name: .customLong("batch-size"), help: "Events per store call (the pipeline's micro-batch).")
    var batchSize = 50_000

    @Option(name: .customLong("insert-concurrency"),
            help: "Concurrent INSERTs a batch is split into (default: the sink's, 2).")
    var insertConcurrency: Int?

    @Flag(name: .customLong("raw-json"), help: "Also store each event's JSON as received (clickhouse.store_raw_json).")
    var rawJSON = false

    @Option(help: "Runs of each analytics query for the percentiles.")
    var repetitions = 200

    @Flag(help: "Keep the database afterwards.")
    var keep = false

    mutating func run() async throws {
        var configuration = try ClickHouseCommandSupport.configuration(url: clickhouseURL, database: database)
        if let insertConcurrency {
            guard insertConcurrency >= 1 else { throw ValidationError("--insert-concurrency must be at least 1") }
            configuration.insertConcurrency = insertConcurrency
        }
        if rawJSON { configuration.storeRawJSON = true }
        let store = ClickHouseEventStore(configuration: configuration)
        do {
            try await store.client.execute("DROP DATABASE IF EXISTS `\(configuration.database)`")
            let benchmark = ClickHouseBenchmark(events: events, batchSize: batchSize, queryRepetitions: repetitions)
            let report = try await benchmark.run(store: store) { line in print(line) }
            print("")
            print("ClickHouse \(report.serverVersion), \(report.events) events in batches of \(batchSize), "
                  + "\(configuration.insertConcurrency) concurrent inserts a batch, raw JSON \(configuration.storeRawJSON ? "kept" : "not kept")")
            print(String(format: "insert: %.1f s, %.0f rows/s; stored count %lld",
                         report.insertSeconds, report.rowsPerSecond, report.storedCount))
            print("| query | p50 ms | p99 ms | max ms |")
            print("| --- | ---: | ---: | ---: |")
            for q in report.queries {
                print("| \(q.name) | \(String(format: "%.2f", q.p50Millis)) | \(String(format: "%.2f", q.p99Millis)) | \(String(format: "%.2f", q.maxMillis)) |")
            }
            if !keep { try await store.client.execute("DROP DATABASE IF EXISTS `\(configuration.database)`") }
            try await store.shutdown()
        } catch {
            try? await store.shutdown()
            throw error
        }
    }
}
