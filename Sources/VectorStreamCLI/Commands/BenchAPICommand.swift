import ArgumentParser
import Foundation
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamGenerator
import VectorStreamServer

/// Serves the API over an embedded index of N products for a load generator (benchmarks/api.sh runs wrk).
///
/// The vectors are deterministic random unit vectors: the search cost of an exact index depends on the count
/// and dimension, not on the values, and embedding 100k texts would dominate the benchmark's time.
struct BenchAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api", abstract: "Fill an embedded index with N products and serve the API for a load test.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Products in the index.") var products = 100_000
    @Option(help: "HTTP port.") var port = 8099

    func run() async throws {
        let config = try global.loadConfiguration()
        let registry = Observability.bootstrap(logLevel: global.logLevel)
        let logger = global.makeLogger("vectorstream.bench")
        let dataDirectory = global.dataDir ?? (config.dataDirectory as NSString).appendingPathComponent("bench-api")
        let assembly = try await PipelineAssembly.make(configuration: config, dataDirectory: dataDirectory, logger: logger)
        let have = try await assembly.vectors.count()
        if have < products {
            let generator = EventGenerator(configuration: GeneratorConfiguration(productCount: products))
            var random = SeededRandom(seed: 7)
            let progress = ProgressReporter(total: products, label: "vectors")
            let started = ContinuousClock.now
            for start in stride(from: have, to: products, by: 5_000) {
                let batch = (start..<min(start + 5_000, products)).map { i -> ProductVector in
                    var v = (0..<assembly.embedder.dimension).map { _ in Float(random.unit() * 2 - 1) }
                    let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    v = v.map { $0 / norm }
                    let p = generator.catalog[i]
                    return ProductVector(productID: p.id, vector: v, name: p.name, category: p.category, price: p.price,
                                         modelVersion: assembly.embedder.modelVersion, contentHash: "bench", updatedAt: 0)
                }
                try await assembly.vectors.upsert(batch)
                let seconds = Double(started.duration(to: .now).components.seconds) + 1e-9
                progress.update(done: start + batch.count, rate: Double(start + batch.count - have) / seconds)
            }
            progress.finish()
        }
        let server = APIServer(configuration: APIServerConfiguration(host: "127.0.0.1", port: port),
                               dependencies: APIDependencies(embedder: assembly.embedder, vectors: assembly.vectors,
                                                             analytics: assembly.analytics, health: assembly.health,
                                                             prometheus: registry))
        let app = server.makeApplication(logger: logger) { port in
            FileHandle.standardOutput.write(Data("serving \(products) products on http://127.0.0.1:\(port)/\n".utf8))
        }
        try await app.runService()
    }
}
