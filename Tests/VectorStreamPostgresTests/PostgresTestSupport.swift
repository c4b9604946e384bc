import Foundation
import VectorStreamTestSupport
import Logging
import PostgresNIO
import VectorStreamCore
@testable import VectorStreamPostgres

/// PostgreSQL for the tests: Debian's server started by scripts/services/postgres.sh (or the URL in
/// `VECTORSTREAM_TEST_POSTGRES_URL`), and a fresh database per test, so tests running at once never share tables.
enum PostgresTestServer {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shared server's URL, or nil when it cannot be started (the reason is printed).
    static let url: String? = {
        if let url = ProcessInfo.processInfo.environment["VECTORSTREAM_TEST_POSTGRES_URL"], !url.isEmpty { return url }
        do { return try script("scripts/services/postgres.sh", ["start"]) } catch {
            print("postgres: \(error)")
            return nil
        }
    }()

    static let unavailable = "PostgreSQL could not be started (scripts/services/postgres.sh start; apt-get install postgresql)"

    struct ScriptFailure: Error, CustomStringConvertible { var description: String }

    /// Runs a repo script and returns the last line it printed.
    @discardableResult
    static func script(_ path: String, _ arguments: [String]) throws -> String {
        let outputPath = NSTemporaryDirectory() + "vectorstream-pg-\(UUID().uuidString).out"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let status = try ChildProcess.run("/bin/bash", [repoRoot.appendingPathComponent(path).path] + arguments,
                                          directory: repoRoot.path, outputPath: outputPath)
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw ScriptFailure(description: "\(path) \(arguments.joined(separator: " ")) failed (\(status)): \(text)")
        }
        return text.split(separator: "\n").last.map(String.init) ?? ""
    }

    /// Whether the server offers TimescaleDB (Debian's PostgreSQL 15 does not).
    static let timescaleAvailable: Bool = {
        guard let url else { return false }
        return (try? blocking {
            try await withClient(url) { client in
                var n: Int64 = 0
                for try await c in try await client.query("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
                    .decode(Int64.self) { n = c }
                return n > 0
            }
        }) ?? false
    }()

    static func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do { let v = try await body(); result.withLock { $0 = .success(v) } } catch { result.withLock { $0 = .failure(error) } }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }

    /// A running client for `url` during `body`.
    static func withClient<T: Sendable>(_ url: String, _ body: (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: try PostgresEndpoint(url: url).clientConfiguration())
        let running = Task { await client.run() }
        defer { running.cancel() }
        return try await body(client)
    }

    /// A new, empty database on the shared server for `body`; dropped afterwards.
    static func withDatabase<T: Sendable>(_ body: (_ client: PostgresClient, _ url: String) async throws -> T) async throws -> T {
        guard let url else { throw ScriptFailure(description: unavailable) }
        let name = "vs_test_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        _ = try await withClient(url) { admin in
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        let base = url.split(separator: "?", maxSplits: 1)
        let slash = base[0].range(of: "/", options: .backwards)!
        let dbURL = String(base[0][..<slash.lowerBound]) + "/" + name + (base.count > 1 ? "?" + base[1] : "")
        do {
            let result = try await withClient(dbURL) { try await body($0, dbURL) }
            _ = try? await withClient(url) { admin in try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")) }
            return result
        } catch {
            _ = try? await withClient(url) { admin in try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")) }
            throw error
        }
    }

    static func scalar<T: PostgresDecodable & Sendable>(_ client: PostgresClient, _ sql: String, as: T.Type) async throws -> T? {
        var out: T?
        for try await v in try await client.query(PostgresQuery(unsafeSQL: sql)).decode(T.self) { out = v }
        return out
    }

    static let logger = Logger(label: "vectorstream.postgres.test")
}

import Synchronization
