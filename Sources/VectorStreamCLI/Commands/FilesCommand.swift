import ArgumentParser
import Foundation
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamRedis

/// `vectorstream files list|show`: the file records, from Redis when configured, else the embedded store.
struct FilesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "files", abstract: "List files and show one (status, counts, rejected rows).",
        subcommands: [List.self, Show.self])

    /// Opens only the metadata store (no model, no vector store).
    static func withMetadata<T>(_ global: GlobalOptions, _ body: (any FileMetadataStore) async throws -> T) async throws -> T {
        let config = try global.loadConfiguration()
        let database = try EmbeddedDatabase(directory: config.dataDirectory)
        if config.redis.url != nil {
            let redis = try RedisBackend(settings: config.redis, workerID: config.pipeline.workerID, embeddingDimension: 384,
                                         logger: global.makeLogger("vectorstream.files"))
            do {
                try await redis.checkReachable()
                let result = try await body(try FileStores.metadata(configuration: config, database: database, dedup: redis.dedup))
                await redis.close()
                return result
            } catch {
                await redis.close()
                throw error
            }
        }
        return try await body(SQLiteFileMetadataStore(database: database))
    }

    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Files, newest first.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Most files to show.") var limit = 20
        @Option(help: "The cursor printed after a page (next page).") var after: String?
        @Flag(help: "One JSON record per line.") var json = false

        func run() async throws {
            var cursor: FileCursor?
            if let after {
                guard let c = FileCursor(after) else { throw ValidationError("--after takes the cursor a page printed") }
                cursor = c
            }
            let page = try await FilesCommand.withMetadata(global) { try await $0.list(limit: max(1, limit), after: cursor) }
            for r in page.records {
                if json {
                    print(FilesCommand.encode(r))
                } else {
                    let c = r.counts
                    print("\(r.sha256.prefix(16))  \(r.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) "
                          + "\(r.kind.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) rows \(c.rowsAccepted)/\(c.rowsTotal)  "
                          + "\(r.name)")
                }
            }
            if let next = page.next { FileHandle.standardError.write(Data("more: --after \(next)\n".utf8)) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One file's record (JSON): status, counts, rejected rows.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The file's SHA-256.") var sha256: String

        func run() async throws {
            let sha = sha256.lowercased()
            guard FileRecord.isSHA256(sha) else { throw ValidationError("expected a SHA-256 (64 hex digits)") }
            guard let record = try await FilesCommand.withMetadata(global, { try await $0.record(sha256: sha) }) else {
                throw CLIError("no file with sha256 \(sha)")
            }
            print(FilesCommand.encode(record))
        }
    }
}
