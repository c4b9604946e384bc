import Foundation
import Testing

import VectorStreamEmbedder

/// The reduced-precision path: only where this CPU has AVX-512 BF16 (elsewhere its error is what is tested).
@Suite("bf16 precision")
struct BFloat16Tests {
    static let supported = EmbedderPrecision.bfloat16Supported

    static let embedder: Result<MiniLMEmbedder, any Error> = Result {
        try MiniLMEmbedder(configuration: .init(threads: 2, batchSize: 8, precision: .bf16))
    }

    @Test("reference sentences and hard texts: cosine >= 0.999 to sentence-transformers (fp32)",
          .enabled(if: supported, "this CPU has no AVX-512 BF16"))
    func referenceEmbeddings() async throws {
        let embedder = try Self.embedder.get()
        let reference = try Fixtures.reference()
        let extra = try Fixtures.extraReference().texts.filter { $0.embedding != nil }
        let texts = reference.sentences.map(\.text) + extra.map(\.text)
        let expected = reference.sentences.map(\.embedding) + extra.map { $0.embedding! }
        let vectors = try await embedder.embed(texts)
        var worst: Float = 1
        for (index, vector) in vectors.enumerated() {
            let cosine = Fixtures.cosine(vector, expected[index])
            worst = min(worst, cosine)
            #expect(cosine >= 0.999, "\(texts[index].prefix(60)): cosine \(cosine)")
        }
        // Not fp32: if every vector were identical to the fp32 reference, the bf16 products did not run.
        #expect(worst < 0.9999999)
    }

    @Test("a different model version than fp32, so stored vectors of the two never mix",
          .enabled(if: supported, "this CPU has no AVX-512 BF16"))
    func modelVersion() throws {
        let bf16 = try Self.embedder.get()
        let fp32 = try Fixtures.embedder()
        #expect(bf16.modelVersion == fp32.modelVersion + "+bf16")
        #expect(bf16.configuration.precision == .bf16)
    }

    @Test("without AVX-512 BF16, asking for bf16 fails with a clear error",
          .enabled(if: !supported, "this CPU has AVX-512 BF16"))
    func unsupportedCPU() {
        #expect {
            _ = try MiniLMEmbedder(configuration: .init(threads: 1, precision: .bf16))
        } throws: { error in
            "\(error)".contains("AVX-512 BF16") && "\(error)".contains("fp32")
        }
    }
}
