import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import VectorStreamCore
import VectorStreamPostgres

/// `vectorstream bench metrics`: the metrics history's query time over a day of points from several workers
/// (BENCHMARKS.md). Works in a fresh database it creates and drops (`--keep` leaves it).
struct BenchMetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics", abstract: "Time GET /v1/metrics/history's PostgreSQL queries over a day of points (4 workers, 5 s).")

    @Option(name: .customLong("postgres-url"), help: "PostgreSQL URL (default: $VECTORSTREAM_POSTGRES_URL); a database is created beside it.")
    var postgresURL: String?
    @Option(help: "Workers writing.") var workers = 4
    @Option(help: "Hours of points.") var hours = 24
    @Option(help: "Seconds between a worker's points.") var interval = 5
    @Option(help: "Timed runs of each query.") var repeats = 200
    @Flag(help: "Keep the benchmark database.") var keep = false

    func run() async throws {
        guard let url = postgresURL ?? ProcessInfo.processInfo.environment["VECTORSTREAM_POSTGRES_URL"], !url.isEmpty else {
            throw ValidationError("no PostgreSQL: pass --postgres-url or set VECTORSTREAM_POSTGRES_URL")
        }
        let endpoint = try PostgresEndpoint(url: url)
        let name = "vectorstream_bench_\(wallClockMillis())"
        var benchEndpoint = endpoint
        benchEndpoint.database = name
        let logger = Logger(label: "vectorstream.bench.metrics")
        let admin = PostgresClient(configuration: endpoint.clientConfiguration())
        let adminTask = Task { await admin.run() }
        defer { adminTask.cancel() }
        try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        let client = PostgresClient(configuration: benchEndpoint.clientConfiguration())
        let clientTask = Task { await client.run() }
        do {
            let report = try await MetricsSchema.migrate(client, retention: .seconds(30 * 86_400), logger: logger)
            let now = wallClockMillis()
            let t0 = ContinuousClock.now
            let points = try await MetricsBenchmark.fill(client, workers: workers, hours: hours, intervalSeconds: interval,
                                                          now: now, logger: logger)
            print("\(points) points (\(workers) workers x \(hours) h at \(interval) s, \(points / Int64(max(1, workers * hours * 3600 / interval))) series each), "
                  + "\(report.storage.rawValue) storage, filled in \(t0.duration(to: .now))")
            let timings = try await MetricsBenchmark.time(PostgresMetricsHistory(client: client), now: now, repeats: repeats)
            print("query | buckets with data | p50 ms | p99 ms | max ms")
            for t in timings {
                print(String(format: "%@ | %d | %.2f | %.2f | %.2f", t.name, t.buckets, t.p50Millis, t.p99Millis, t.maxMillis))
            }
            let worst = timings.map(\.p99Millis).max() ?? 0
            print(String(format: "worst p99 %.2f ms (%@ 20 ms)", worst, worst < 20 ? "under" : "NOT under"))
        } catch {
            clientTask.cancel()
            if !keep { _ = try? await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger) }
            throw error
        }
        clientTask.cancel()
        await clientTask.value
        if !keep { try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger) }
    }
}
