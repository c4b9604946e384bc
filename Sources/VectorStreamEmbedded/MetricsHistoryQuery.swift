import Foundation
import GRDB
import VectorStreamCore

extension EmbeddedDatabase {
    /// The metrics history (`metrics_history`, one row per publish of `SQLiteLiveState`) between `from` and `to`,
    /// thinned to the last row of each worker in each `bucketMillis` (cumulative counters stay exact between
    /// two kept rows), oldest first. `worker` keeps one worker's rows. Rows that do not decode are skipped.
    public func metricsSnapshots(from: EpochMillis, to: EpochMillis, bucketMillis: Int64,
                                 worker: String?) throws -> [(worker: String, at: EpochMillis, stats: PipelineStats)] {
        let rows = try pool.read { (db: Database) -> [Row] in
            var arguments: StatementArguments = [from, to]
            var filter = ""
            if let worker {
                filter = "AND worker = ?"
                _ = arguments.append(contentsOf: [worker])
            }
            _ = arguments.append(contentsOf: [max(bucketMillis, 1)])
            // SQLite returns the other columns of the row that holds MAX(ts) in each group.
            return try Row.fetchAll(db, sql: """
                SELECT worker, MAX(ts), stats FROM metrics_history WHERE ts >= ? AND ts <= ? \(filter)
                GROUP BY worker, ts / ? ORDER BY 2
                """, arguments: arguments)
        }
        let decoder = JSONDecoder()
        return rows.compactMap { row in
            let text: String = row[2]
            guard let stats = try? decoder.decode(PipelineStats.self, from: Data(text.utf8)) else { return nil }
            return (row[0], row[1], stats)
        }
    }
}
