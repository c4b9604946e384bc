import CMatrixKernels
import Foundation
import Testing

import VectorStreamEmbedder

/// The fp32 products: our packed AVX-512F kernels (where the CPU has AVX-512F) and OpenBLAS give the same
/// embeddings, and the kernels themselves agree with a plain triple loop on awkward shapes.
@Suite("fp32 matrix kernels")
struct MatrixKernelTests {
    static let packedSupported = MatrixKernel.packedSupported

    static func embedder(_ kernel: MatrixKernel) throws -> MiniLMEmbedder {
        try MiniLMEmbedder(configuration: .init(threads: 2, batchSize: 8, matrixKernel: kernel))
    }

    @Test("reference sentences and hard texts: cosine >= 0.9999 to sentence-transformers with each kernel",
          arguments: packedSupported ? [MatrixKernel.blas, .packed] : [.blas])
    func referenceEmbeddings(kernel: MatrixKernel) async throws {
        let embedder = try Self.embedder(kernel)
        #expect(embedder.layerProducts == (kernel == .packed ? "packed-fp32" : "blas"))
        let reference = try Fixtures.reference()
        let extra = try Fixtures.extraReference().texts.filter { $0.embedding != nil }
        let texts = reference.sentences.map(\.text) + extra.map(\.text)
        let expected = reference.sentences.map(\.embedding) + extra.map { $0.embedding! }
        let vectors = try await embedder.embed(texts)
        for (index, vector) in vectors.enumerated() {
            let cosine = Fixtures.cosine(vector, expected[index])
            #expect(cosine >= 0.9999, "\(kernel) \(texts[index].prefix(60)): cosine \(cosine)")
        }
    }

    @Test("the same model version with either kernel: both are fp32, their vectors may share a store",
          .enabled(if: packedSupported, "this CPU has no AVX-512F"))
    func sameModelVersion() throws {
        #expect(try Self.embedder(.packed).modelVersion == Self.embedder(.blas).modelVersion)
    }

    @Test("auto picks the packed kernel exactly where the CPU has AVX-512F")
    func automaticChoice() throws {
        let embedder = try Self.embedder(.auto)
        #expect(embedder.layerProducts == (Self.packedSupported ? "packed-fp32" : "blas"))
    }

    @Test("without AVX-512F, asking for the packed kernel fails with a clear error",
          .enabled(if: !packedSupported, "this CPU has AVX-512F"))
    func unsupportedCPU() {
        #expect {
            _ = try Self.embedder(.packed)
        } throws: { error in
            "\(error)".contains("AVX-512F")
        }
    }

    /// Deterministic values in [-1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1 + 0.5e-6
        }
    }

    static func close(_ a: Float, _ b: Float, _ k: Int) -> Bool { abs(a - b) <= 1e-5 * Float(k) }

    @Test("packed product with bias, and accumulating onto c, equals the triple loop",
          .enabled(if: packedSupported, "this CPU has no AVX-512F"),
          arguments: [(1, 64, 3), (5, 128, 16), (7, 64, 384), (13, 192, 1), (97, 128, 40)])
    func packedProduct(shape: (m: Int, n: Int, k: Int)) {
        let (m, n, k) = shape
        let a = Self.values(m * k, seed: 1), weight = Self.values(n * k, seed: 2), bias = Self.values(n, seed: 3)
        let start = Self.values(m * n, seed: 4)
        var packed = [Float](repeating: .nan, count: vs_f32_packed_count(Int32(n), Int32(k)))
        vs_f32_pack_weights(weight, Int32(n), Int32(k), &packed)
        for accumulate in [false, true] {
            var c = start
            if accumulate {
                vs_f32_gemm(Int32(m), Int32(n), Int32(k), a, Int32(k), packed, nil, &c, Int32(n), VS_F32_ACCUMULATE)
            } else {
                vs_f32_gemm(Int32(m), Int32(n), Int32(k), a, Int32(k), packed, bias, &c, Int32(n), 0)
            }
            for i in 0..<m {
                for j in 0..<n {
                    var sum = accumulate ? start[i * n + j] : bias[j]
                    for p in 0..<k { sum += a[i * k + p] * weight[j * k + p] }
                    #expect(Self.close(c[i * n + j], sum, k), "[\(i)][\(j)] accumulate \(accumulate)")
                }
            }
        }
    }

    @Test("GELU on the packed product's results: x/2 (1 + erf(x/√2)) within 1e-6 of the C library's erf",
          .enabled(if: packedSupported, "this CPU has no AVX-512F"))
    func packedProductThroughGELU() {
        let (m, n, k) = (9, 128, 24)
        // Inputs scaled so that the sums span about [-12, 12]: both tails of erf and its middle.
        let a = Self.values(m * k, seed: 9).map { $0 * 2 }, weight = Self.values(n * k, seed: 10)
        let bias = Self.values(n, seed: 11).map { $0 * 4 }
        var packed = [Float](repeating: .nan, count: vs_f32_packed_count(Int32(n), Int32(k)))
        vs_f32_pack_weights(weight, Int32(n), Int32(k), &packed)
        var c = [Float](repeating: .nan, count: m * n)
        vs_f32_gemm(Int32(m), Int32(n), Int32(k), a, Int32(k), packed, bias, &c, Int32(n), VS_F32_GELU)
        var widest: Float = 0
        for i in 0..<m {
            for j in 0..<n {
                var sum = Double(bias[j])
                for p in 0..<k { sum += Double(a[i * k + p]) * Double(weight[j * k + p]) }
                widest = max(widest, Float(abs(sum)))
                let expected = sum / 2 * (1 + Foundation.erf(sum / 2.0.squareRoot()))
                #expect(abs(Double(c[i * n + j]) - expected) <= 1e-6 * max(1, abs(sum)) + 1e-5, "[\(i)][\(j)] x = \(sum)")
            }
        }
        #expect(widest > 4, "the inputs reach erf's tails")
    }

    @Test("strided product reads a row-major or transposed, for every width up to 80 and odd row counts",
          .enabled(if: packedSupported, "this CPU has no AVX-512F"))
    func stridedProduct() {
        for (m, n, k) in [(1, 16, 1), (6, 32, 7), (11, 48, 64), (47, 64, 47), (19, 80, 5)] {
            let lda = k + 3, ldb = n + 16, ldc = n + 32
            let a = Self.values(m * lda, seed: 5), b = Self.values(k * ldb, seed: 6)
            for transposed in [false, true] {
                // Transposed: a holds aᵀ, k rows of m (padded to lda >= m).
                let (aRow, aColumn) = transposed ? (1, max(lda, m)) : (lda, 1)
                let source = transposed ? Self.values(k * max(lda, m), seed: 7) : a
                var c = [Float](repeating: .nan, count: m * ldc)
                vs_f32_gemm_strided(Int32(m), Int32(n), Int32(k), source, aRow, aColumn, b, ldb, &c, ldc)
                for i in 0..<m {
                    for j in 0..<n {
                        var sum: Float = 0
                        for p in 0..<k { sum += source[i * aRow + p * aColumn] * b[p * ldb + j] }
                        #expect(Self.close(c[i * ldc + j], sum, k), "\(m)x\(n)x\(k) transposed \(transposed) [\(i)][\(j)]")
                    }
                }
            }
        }
    }

    @Test("softmax down each column within 1e-6 of the exact one, padding lanes zeroed",
          .enabled(if: packedSupported, "this CPU has no AVX-512F"),
          arguments: [(1, 1), (3, 17), (47, 47), (20, 64)])
    func softmaxColumns(shape: (rows: Int, columns: Int)) {
        let (rows, columns) = shape
        let stride = (columns + 15) / 16 * 16
        // Scores as attention sees them, up to about ±30 (differences past e^-87 included).
        let data = Self.values(rows * stride, seed: 12).map { $0 * 30 }
        var result = data
        vs_f32_softmax_columns(&result, Int32(rows), Int32(columns), stride)
        for column in 0..<stride {
            let top = (0..<rows).map { Double(data[$0 * stride + column]) }.max()!
            let sum = (0..<rows).map { Foundation.exp(Double(data[$0 * stride + column]) - top) }.reduce(0, +)
            for row in 0..<rows {
                let value = Double(result[row * stride + column])
                if column >= columns {
                    #expect(value == 0, "padding [\(row)][\(column)]")
                } else {
                    let expected = Foundation.exp(Double(data[row * stride + column]) - top) / sum
                    #expect(abs(value - expected) <= 1e-6 * max(expected, 1e-3), "[\(row)][\(column)]")
                }
            }
        }
    }

    @Test("transpose moves every element and zeroes the padding rows",
          .enabled(if: packedSupported, "this CPU has no AVX-512F"),
          arguments: [(1, 16, 16), (17, 32, 32), (47, 384, 48), (5, 20, 5)])
    func transpose(shape: (rows: Int, columns: Int, padded: Int)) {
        let (rows, columns, padded) = shape
        let stride = columns + 5
        let source = Self.values(rows * stride, seed: 8)
        var target = [Float](repeating: .nan, count: columns * padded)
        vs_f32_transpose(Int32(rows), Int32(columns), source, stride, &target, padded, Int32(padded))
        for column in 0..<columns {
            for row in 0..<padded {
                let expected = row < rows ? source[row * stride + column] : 0
                #expect(target[column * padded + row] == expected, "[\(column)][\(row)]")
            }
        }
    }
}
