import Foundation
import Testing

@testable import VectorStreamEmbedder

@Suite("MiniLM embedder")
struct EmbedderTests {
    @Test("all 20 reference sentences: cosine >= 0.9999 to sentence-transformers")
    func referenceEmbeddings() async throws {
        let embedder = try Fixtures.embedder()
        let reference = try Fixtures.reference()
        #expect(reference.sentences.count == 20)
        let vectors = try await embedder.embed(reference.sentences.map(\.text))
        for (sentence, vector) in zip(reference.sentences, vectors) {
            #expect(vector.count == 384)
            let cosine = Fixtures.cosine(vector, sentence.embedding)
            #expect(cosine >= 0.9999, "\(sentence.text): cosine \(cosine)")
        }
    }

    @Test("hard texts (Turkish, Persian, Cyrillic, CJK, emoji, HTML, controls, >256 tokens, one letter): cosine >= 0.9999")
    func extraEmbeddings() async throws {
        let embedder = try Fixtures.embedder()
        let entries = try Fixtures.extraReference().texts.filter { $0.embedding != nil }
        #expect(entries.count >= 8)
        let vectors = try await embedder.embed(entries.map(\.text))
        for (entry, vector) in zip(entries, vectors) {
            let cosine = Fixtures.cosine(vector, entry.embedding!)
            #expect(cosine >= 0.9999, "\(entry.name): cosine \(cosine)")
        }
    }

    @Test("a batch gives the same vectors as one text at a time, in input order, unit length")
    func batchMatchesSingle() async throws {
        let embedder = try Fixtures.embedder()
        let texts = ["Dog leash", "A premium cast iron Dutch oven, 5.5 quart, enameled interior.", "a",
                     "Wireless earbuds with charging case", "北京 green tea", "Dog leash"]
        let batch = try await embedder.embed(texts)
        #expect(batch.count == texts.count)
        for (text, vector) in zip(texts, batch) {
            let single = try await embedder.embed([text])[0]
            #expect(Fixtures.cosine(single, vector) >= 0.99999, "\(text)")
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-5)
        }
        // Same text at two places of one call: equal up to BLAS blocking order.
        #expect(Fixtures.cosine(batch[0], batch[5]) >= 0.999999)
        #expect(Fixtures.cosine(batch[0], batch[1]) < 0.9)
        #expect(try await embedder.embed([]).isEmpty)
    }

    @Test("concurrent calls from many tasks each get their own texts' vectors")
    func concurrentCalls() async throws {
        let embedder = try Fixtures.embedder()
        let texts = ["red running shoes", "organic green tea", "usb-c charger 65 w", "wooden toy train"]
        let expected = try await embedder.embed(texts)
        try await withThrowingTaskGroup(of: (Int, [[Float]]).self) { group in
            for round in 0..<8 {
                group.addTask {
                    let rotated = (0..<texts.count).map { texts[($0 + round) % texts.count] }
                    return (round, try await embedder.embed(rotated))
                }
            }
            for try await (round, vectors) in group {
                for (position, vector) in vectors.enumerated() {
                    #expect(Fixtures.cosine(vector, expected[(position + round) % texts.count]) >= 0.99999)
                }
            }
        }
    }

    @Test("both parallelism modes agree")
    func parallelismModes() async throws {
        let shared = try Fixtures.embedder()
        let blas = try MiniLMEmbedder(configuration: .init(threads: 2, batchSize: 4, parallelism: .blasThreads))
        let texts = ["Smartwatch with GPS", "Yoga mat, non-slip", "Gaming mouse 16000 DPI RGB"]
        let a = try await shared.embed(texts)
        let b = try await blas.embed(texts)
        for (x, y) in zip(a, b) { #expect(Fixtures.cosine(x, y) >= 0.99999) }
        #expect(blas.workerCount == 1 && blas.blasThreadsPerWorker == 2)
    }

    @Test("model version names the weights, dimension is 384")
    func identity() throws {
        let embedder = try Fixtures.embedder()
        #expect(embedder.dimension == 384)
        #expect(embedder.modelVersion.hasPrefix("all-MiniLM-L6-v2@"))
        #expect(embedder.modelVersion.count == "all-MiniLM-L6-v2@".count + 12)
    }
}

@Suite("Vector kernels")
struct KernelTests {
    @Test("erf approximation within 1e-6 of the C library")
    func erfAccuracy() {
        var worst: Float = 0
        var x: Float = -6
        while x <= 6 {
            let lanes = VectorKernels.Vector((0..<16).map { x + Float($0) * 0.0007 })
            let approx = VectorKernels.erf(lanes)
            for lane in 0..<16 { worst = max(worst, abs(approx[lane] - Float(Foundation.erf(Double(lanes[lane]))))) }
            x += 0.0112
        }
        #expect(worst < 1e-6, "max error \(worst)")
    }

    @Test("exp approximation within 1e-6 relative for softmax inputs")
    func expAccuracy() {
        var worst: Float = 0
        var x: Float = -80
        while x <= 0 {
            let lanes = VectorKernels.Vector((0..<16).map { min(0, x + Float($0) * 0.003) })
            let approx = VectorKernels.exp(lanes)
            for lane in 0..<16 {
                let exact = Foundation.exp(Double(lanes[lane]))
                worst = max(worst, Float(abs(Double(approx[lane]) - exact) / exact))
            }
            x += 0.05
        }
        #expect(worst < 1e-6, "max relative error \(worst)")
    }
}
