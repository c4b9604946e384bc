import ArgumentParser
import Foundation
import VectorStreamEmbedder

#if canImport(Glibc)
import Glibc
#endif

/// `vectorstream bench embed`: embedding throughput and peak memory on a corpus, as benchmarks/embeddings
/// runs it beside sentence-transformers and onnxruntime.
struct BenchEmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Measure embedding throughput (sentences/s) and peak RSS on a corpus.",
        discussion: """
            The corpus is JSON lines {"text": ...} (or plain text, one per line). The model is loaded and warmed up
            first; then the whole corpus is embedded as the pipeline does, in calls of --call-size texts.
            The last line printed is a JSON object with the figures.
            """)

    @Option(name: .long, help: ArgumentHelp("Corpus file: JSON lines {\"text\": ...} or one text per line.", valueName: "file"))
    var corpus: String

    @OptionGroup var embedder: EmbedderOptions

    @Option(name: .long, help: "Texts embedded before timing (not counted).")
    var warmup: Int = 64

    @Option(name: .long, help: "Texts per embed call (the pipeline's micro-batch).")
    var callSize: Int = 512

    @Option(name: .long, help: "Timed runs over the corpus; the best is reported.")
    var runs: Int = 1

    @Option(name: .long, help: ArgumentHelp("Write the vectors as raw little-endian float32, one row of 384 per text.", valueName: "file"))
    var vectors: String?

    func run() async throws {
        let texts = try loadCorpus()
        guard !texts.isEmpty else { throw ValidationError("\(corpus): no texts") }
        let loadStart = ContinuousClock.now
        let model = try embedder.makeEmbedder()
        let loadTime = ContinuousClock.now - loadStart
        _ = try await model.embed(Array(texts.prefix(warmup)))

        var best = Duration.seconds(1_000_000)
        var result: [[Float]] = []
        for _ in 0..<max(1, runs) {
            var output: [[Float]] = []
            output.reserveCapacity(texts.count)
            let start = ContinuousClock.now
            var index = 0
            while index < texts.count {
                let end = min(texts.count, index + max(1, callSize))
                output += try await model.embed(Array(texts[index..<end]))
                index = end
            }
            let elapsed = ContinuousClock.now - start
            if elapsed < best { best = elapsed }
            result = output
        }
        let seconds = Double(best.components.seconds) + Double(best.components.attoseconds) / 1e18
        let tokens = texts.reduce(0) { $0 + model.tokenizer.encode($1).ids.count }
        let peakMB = Self.peakResidentMegabytes()

        if let vectors {
            var data = Data(capacity: result.count * model.dimension * 4)
            for row in result { row.withUnsafeBytes { data.append(contentsOf: $0) } }
            try data.write(to: URL(fileURLWithPath: vectors))
        }
        let rate = Double(texts.count) / seconds
        print(String(format: "vectorstream: %d sentences (%d tokens) in %.3f s: %.1f sentences/s, peak RSS %.1f MB",
                     texts.count, tokens, seconds, rate, peakMB))
        print("  model \(model.modelVersion) from \(model.modelDirectory), load \(loadTime)")
        print("  \(model.workerCount) worker(s) x \(model.blasThreadsPerWorker) BLAS thread(s), OpenBLAS kernels \(model.blasKernels), layer products \(model.layerProducts)")
        let summary: [String: Any] = [
            "engine": "vectorstream", "sentences": texts.count, "tokens": tokens, "seconds": seconds,
            "sentences_per_second": rate, "peak_rss_mb": peakMB, "workers": model.workerCount,
            "blas_threads": model.blasThreadsPerWorker, "blas_kernels": model.blasKernels, "precision": model.configuration.precision.rawValue,
            "layer_products": model.layerProducts,
            "model_version": model.modelVersion,
        ]
        let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    /// This process's peak RSS: VmHWM, because ru_maxrss carries a parent's peak over fork+exec on Linux.
    static func peakResidentMegabytes() -> Double {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        {
            return kilobytes / 1024
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    private func loadCorpus() throws -> [String] {
        let reader = try LineReader(path: corpus)
        var texts: [String] = []
        var number = 0
        while let line = try reader.nextLine() {
            number += 1
            if line.first == "{" {
                if let text = try EmbeddingJSONLines.text(ofLine: line, number: number) { texts.append(text) }
            } else if !line.isEmpty {
                texts.append(String(line))
            }
        }
        return texts
    }
}
