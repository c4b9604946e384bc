import Foundation
import ArgumentParser
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamVectorDB

/// `vectorstream bench vectors`: upsert throughput and search latency of the vector databases, side by side.
struct BenchVectorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vectors",
        abstract: "Upsert throughput and search p50/p99 of Milvus, Qdrant and the embedded index on random unit vectors.",
        discussion: """
            Writes N products with deterministic random 384-dimension unit vectors in sequential batches, waits \
            until the store shows all of them, then times sequential searches (plain and filtered by category). \
            The benchmark collection is dropped first and, unless --keep, afterwards.
            """)

    @Option(help: "Products (vectors) to write.") var products = 100_000
    @Option(help: "Vectors per upsert call.") var batch = 1_000
    @Option(help: "Searches to time (each plain and filtered).") var queries = 1_000
    @Option(help: "Results per search.") var k = 10
    @Option(help: "Seed of the random vectors.") var seed: UInt64 = 42
    @Option(help: "Milvus REST URL, e.g. http://127.0.0.1:19530.") var milvusURL: String?
    @Option(help: "Qdrant REST URL, e.g. http://127.0.0.1:6333.") var qdrantURL: String?
    @Option(help: "Collection used for the benchmark (dropped first).") var collection = "vectorstream_bench"
    @Flag(help: "Also measure the embedded index (in a fresh directory under --embedded-dir).") var embedded = false
    @Option(help: "Scratch directory of the embedded index (removed afterwards unless --keep).")
    var embeddedDir = ".data/bench-vectors"
    @Flag(help: "Keep the benchmark collection afterwards.") var keep = false

    func validate() throws {
        guard products > 0, batch > 0, queries > 0, k > 0 else {
            throw ValidationError("--products, --batch, --queries and --k must be positive")
        }
        guard milvusURL != nil || qdrantURL != nil || embedded else {
            throw ValidationError("give --milvus-url, --qdrant-url and/or --embedded")
        }
    }

    func run() async throws {
        var options = VectorStoreBenchmark.Options()
        options.products = products
        options.batchSize = batch
        options.queries = queries
        options.k = k
        options.seed = seed
        let benchmark = VectorStoreBenchmark(options: options)
        let progress: @Sendable (String) -> Void = { line in print("  " + line) }

        if embedded {
            // A fresh directory, so the figures are those of an empty index filled by this run.
            try? FileManager.default.removeItem(atPath: embeddedDir)
            do {
                let database = try EmbeddedDatabase(directory: embeddedDir)
                let index = try EmbeddedVectorIndex(database: database, dimension: options.dimension)
                print(try await benchmark.run(store: index, name: "embedded index", progress: progress))
            }
            if !keep { try? FileManager.default.removeItem(atPath: embeddedDir) }
        }
        if let milvusURL {
            let store = MilvusVectorStore(configuration: .init(
                url: milvusURL, token: ProcessInfo.processInfo.environment["VECTORSTREAM_MILVUS_TOKEN"],
                collection: collection, requestTimeout: .seconds(120)))
            try await store.dropCollection()
            try await store.prepare()
            let api = try await store.apiVersion()
            let result = try await benchmark.run(store: store, name: "milvus (REST \(api.rawValue))", progress: progress)
            print(result)
            if !keep { try await store.dropCollection() }
        }
        if let qdrantURL {
            let store = QdrantVectorStore(configuration: .init(
                url: qdrantURL, apiKey: ProcessInfo.processInfo.environment["VECTORSTREAM_QDRANT_API_KEY"],
                collection: collection, requestTimeout: .seconds(120)))
            try await store.dropCollection()
            try await store.prepare()
            print(try await benchmark.run(store: store, name: "qdrant", progress: progress))
            if !keep { try await store.dropCollection() }
        }
    }
}
