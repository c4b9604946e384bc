import CMatrixKernels
import COpenBLAS
import Foundation

/// Scratch memory for one forward pass of up to `capacity` tokens. Owned by one worker thread and reused
/// for every pass, so the steady state allocates nothing; it grows only when a longer pass comes.
final class EncoderWorkspace {
    private(set) var capacity: Int
    private(set) var scoreCapacity: Int
    private let hidden: Int
    private let intermediate: Int
    private(set) var states: UnsafeMutablePointer<Float>
    private(set) var qkv: UnsafeMutablePointer<Float>
    private(set) var context: UnsafeMutablePointer<Float>
    private(set) var expanded: UnsafeMutablePointer<Float>
    private(set) var scores: UnsafeMutablePointer<Float>
    /// One sequence's queries transposed (hidden x padded length), for our attention kernel.
    private(set) var transposedQueries: UnsafeMutablePointer<Float>
    /// The bf16 copy of a product's input (bf16 precision only).
    private(set) var bfloat16: UnsafeMutablePointer<UInt16>?

    init(configuration: BertConfiguration, tokens: Int, longestSequence: Int, bfloat16: Bool = false) {
        hidden = configuration.hiddenSize
        intermediate = configuration.intermediateSize
        capacity = max(1, tokens)
        scoreCapacity = max(1, longestSequence * Self.padded(longestSequence))
        states = BertWeights.allocate(capacity * hidden)
        qkv = BertWeights.allocate(capacity * 3 * hidden)
        context = BertWeights.allocate(capacity * hidden)
        expanded = BertWeights.allocate(capacity * intermediate)
        scores = BertWeights.allocate(scoreCapacity)
        transposedQueries = BertWeights.allocate(hidden * Self.padded(longestSequence))
        if bfloat16 { self.bfloat16 = .allocate(capacity: capacity * max(hidden, intermediate)) }
    }

    static func padded(_ count: Int) -> Int { (count + VectorKernels.width - 1) & ~(VectorKernels.width - 1) }

    /// Grows the buffers when a pass needs more than they hold (never shrinks).
    func reserve(tokens: Int, longestSequence: Int) {
        if tokens > capacity {
            for buffer in [states, qkv, context, expanded] { free(buffer) }
            capacity = tokens
            states = BertWeights.allocate(tokens * hidden)
            qkv = BertWeights.allocate(tokens * 3 * hidden)
            context = BertWeights.allocate(tokens * hidden)
            expanded = BertWeights.allocate(tokens * intermediate)
            if let bfloat16 {
                bfloat16.deallocate()
                self.bfloat16 = .allocate(capacity: tokens * max(hidden, intermediate))
            }
        }
        let squared = longestSequence * Self.padded(longestSequence)
        if squared > scoreCapacity {
            free(scores)
            free(transposedQueries)
            scoreCapacity = squared
            scores = BertWeights.allocate(squared)
            transposedQueries = BertWeights.allocate(hidden * Self.padded(longestSequence))
        }
    }

    deinit {
        for buffer in [states, qkv, context, expanded, scores, transposedQueries] { free(buffer) }
        bfloat16?.deallocate()
    }
}

/// The BERT encoder with mean pooling and L2 normalisation, over sequences packed back to back.
///
/// Sequences are not padded: the token-wise parts (projections, feed-forward, LayerNorm) see one matrix
/// of all tokens of the pass, one product call per projection per layer, and attention runs per sequence
/// and head on that sequence's own rows. No compute is spent on padding and no mask is needed.
struct BertEncoder: @unchecked Sendable {  // the weights are immutable
    /// What computes the four large products of each layer.
    enum Products {
        /// OpenBLAS sgemm over the weights as loaded.
        case blas
        /// `vs_f32_gemm` over weights packed at load.
        case packedFloat32(PackedWeights<Float>)
        /// `vs_bf16_gemm` over weights rounded to bf16 and packed at load (the bf16 precision).
        case bfloat16(PackedWeights<UInt16>)
    }

    let weights: BertWeights
    let products: Products

    var configuration: BertConfiguration { weights.configuration }

    /// Embeds `sequences` (token ids with [CLS]/[SEP]) into `output`, one unit vector of `hiddenSize`
    /// floats per sequence, at `output + outputRows[i] * hiddenSize`.
    func embed(
        _ sequences: [[Int32]], outputRows: [Int], into output: UnsafeMutablePointer<Float>,
        workspace: EncoderWorkspace
    ) {
        let c = configuration
        let h = c.hiddenSize
        var offsets: [Int] = []
        offsets.reserveCapacity(sequences.count + 1)
        var total = 0
        var longest = 0
        for sequence in sequences {
            offsets.append(total)
            total += sequence.count
            longest = max(longest, sequence.count)
        }
        offsets.append(total)
        guard total > 0 else { return }
        workspace.reserve(tokens: total, longestSequence: longest)

        // Embeddings: word + position + token type 0, then LayerNorm.
        let x = workspace.states
        for (index, sequence) in sequences.enumerated() {
            for (position, token) in sequence.enumerated() {
                let row = x + (offsets[index] + position) * h
                let word = weights.wordEmbeddings + Int(token) * h
                let place = weights.positionEmbeddings + position * h
                let type = weights.tokenTypeEmbeddings
                var column = 0
                while column < h {
                    let sum = VectorKernels.load(word, column) + VectorKernels.load(place, column)
                        + VectorKernels.load(type, column)
                    VectorKernels.store(sum, row, column)
                    column += VectorKernels.width
                }
            }
        }
        VectorKernels.addLayerNorm(
            x, rows: total, width: h, bias: nil,
            gamma: weights.embeddingNormGamma, beta: weights.embeddingNormBeta, epsilon: c.layerNormEpsilon)

        for index in weights.layers.indices {
            encoderLayer(index, tokens: total, offsets: offsets, workspace: workspace)
        }

        // Mean pooling over each sequence's tokens, then L2 normalisation.
        for index in 0..<sequences.count {
            let start = offsets[index]
            let count = offsets[index + 1] - start
            let out = output + outputRows[index] * h
            var column = 0
            while column < h {
                var sum = VectorKernels.Vector()
                for row in start..<(start + count) {
                    sum += VectorKernels.load(x + row * h, column)
                }
                VectorKernels.store(sum / Float(count), out, column)
                column += VectorKernels.width
            }
            var squares = VectorKernels.Vector()
            column = 0
            while column < h {
                let value = VectorKernels.load(out, column)
                squares.addProduct(value, value)
                column += VectorKernels.width
            }
            let inverseNorm = 1 / max(squares.sum().squareRoot(), 1e-12)
            column = 0
            while column < h {
                VectorKernels.store(VectorKernels.load(out, column) * inverseNorm, out, column)
                column += VectorKernels.width
            }
        }
    }

    private func encoderLayer(_ index: Int, tokens: Int, offsets: [Int], workspace: EncoderWorkspace) {
        let layer = weights.layers[index]
        let c = configuration
        let h = c.hiddenSize
        let x = workspace.states
        let qkv = workspace.qkv
        let context = workspace.context
        let expanded = workspace.expanded
        let m = Int32(tokens)

        // Fused query/key/value projection for every token of the pass (query pre-scaled by 1/√headSize).
        linear(x, rows: m, inputs: h, layer: index, .qkv, outputs: 3 * h, into: qkv, bias: layer.qkvBias,
               workspace: workspace)

        // Attention per sequence and head, scores kept transposed (keys down, queries across):
        // scoresᵀ = K·Qᵀ, softmax down each column, context = (scoresᵀ)ᵀ·V. With our kernels the products read
        // the sequence's queries transposed once for all heads; OpenBLAS would pack both operands per call.
        // (bf16 uses them too: AVX-512 BF16 implies AVX-512F.)
        let ownKernels = if case .blas = products { false } else { true }
        let d = Int32(c.headSize)
        let stride = Int32(3 * h)
        let scores = workspace.scores
        let transposed = workspace.transposedQueries
        for sequence in 0..<(offsets.count - 1) {
            let start = offsets[sequence]
            let length = offsets[sequence + 1] - start
            let n = Int32(length)
            // Rows padded to whole vectors for the softmax.
            let scoreStride = Int32((length + VectorKernels.width - 1) & ~(VectorKernels.width - 1))
            let base = qkv + start * 3 * h
            if ownKernels {
                vs_f32_transpose(n, Int32(h), base, Int(stride), transposed, Int(scoreStride), scoreStride)
            }
            for head in 0..<c.headCount {
                let query = base + head * c.headSize
                let key = base + h + head * c.headSize
                let value = base + 2 * h + head * c.headSize
                let out = context + start * h + head * c.headSize
                if ownKernels {
                    let headQueries = transposed + head * c.headSize * Int(scoreStride)
                    vs_f32_gemm_strided(n, scoreStride, d, key, Int(stride), 1, headQueries, Int(scoreStride), scores,
                                        Int(scoreStride))
                    vs_f32_softmax_columns(scores, n, n, Int(scoreStride))
                    vs_f32_gemm_strided(n, d, n, scores, 1, Int(scoreStride), value, Int(stride), out, h)
                } else {
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, 1, key, stride, query, stride, 0, scores,
                        scoreStride)
                    VectorKernels.softmaxColumns(scores, rows: length, columns: length, stride: Int(scoreStride))
                    cblas_sgemm(
                        CblasRowMajor, CblasTrans, CblasNoTrans, n, d, n, 1, scores, scoreStride, value, stride, 0,
                        out, Int32(h))
                }
            }
        }

        // Output projection added onto the residual in place, then bias and LayerNorm.
        linear(context, rows: m, inputs: h, layer: index, .attentionOutput, outputs: h, into: x, accumulate: true,
               workspace: workspace)
        VectorKernels.addLayerNorm(
            x, rows: tokens, width: h, bias: layer.attentionOutputBias,
            gamma: layer.attentionNormGamma, beta: layer.attentionNormBeta, epsilon: c.layerNormEpsilon)

        // Feed-forward: GELU(x·W1ᵀ + b1)·W2ᵀ + b2, residual, LayerNorm.
        linear(x, rows: m, inputs: h, layer: index, .intermediate, outputs: c.intermediateSize, into: expanded,
               bias: layer.intermediateBias, gelu: true, workspace: workspace)
        linear(expanded, rows: m, inputs: c.intermediateSize, layer: index, .output, outputs: h, into: x,
               accumulate: true, workspace: workspace)
        VectorKernels.addLayerNorm(
            x, rows: tokens, width: h, bias: layer.outputBias,
            gamma: layer.outputNormGamma, beta: layer.outputNormBeta, epsilon: c.layerNormEpsilon)
    }

    /// `output = (accumulate ? output : 0) + bias + input · weightᵀ` with PyTorch's [outputs, inputs] weight
    /// layout, by the configured `products`, then GELU if asked. The bf16 kernel and BLAS (beta = 1) accumulate
    /// onto a matrix that first gets its bias; the packed fp32 kernel starts its sums from bias and residual, and
    /// applies GELU to each tile right after storing it, while it is in L1 (no second pass over the activations).
    @inline(__always)
    private func linear(
        _ input: UnsafePointer<Float>, rows: Int32, inputs: Int, layer index: Int,
        _ product: LayerProduct, outputs: Int, into output: UnsafeMutablePointer<Float>,
        bias: UnsafePointer<Float>? = nil, accumulate: Bool = false, gelu: Bool = false, workspace: EncoderWorkspace
    ) {
        precondition(!(accumulate && bias != nil), "a product takes a bias or accumulates, not both")
        switch products {
        case .packedFloat32(let packed):
            let flags = (accumulate ? VS_F32_ACCUMULATE : 0) | (gelu ? VS_F32_GELU : 0)
            vs_f32_gemm(rows, Int32(outputs), Int32(inputs), input, Int32(inputs), packed.layers[index][product],
                        bias, output, Int32(outputs), flags)
            return
        case .bfloat16(let packed):
            prepare(output, rows: Int(rows), outputs: outputs, bias: bias, accumulate: accumulate)
            guard let scratch = workspace.bfloat16 else { preconditionFailure("bf16 workspace missing") }
            vs_bf16_convert(input, Int(rows) * inputs, scratch)
            vs_bf16_gemm(rows, Int32(outputs), Int32(inputs), scratch, packed.layers[index][product], output,
                         Int32(outputs))
        case .blas:
            prepare(output, rows: Int(rows), outputs: outputs, bias: bias, accumulate: accumulate)
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasTrans, rows, Int32(outputs), Int32(inputs), 1, input, Int32(inputs),
                weights.layers[index][product], Int32(inputs), 1, output, Int32(outputs))
        }
        if gelu { VectorKernels.gelu(output, count: Int(rows) * outputs) }
    }

    /// The starting value of an accumulating product: its bias in every row, zeros, or what is there.
    private func prepare(
        _ output: UnsafeMutablePointer<Float>, rows: Int, outputs: Int, bias: UnsafePointer<Float>?, accumulate: Bool
    ) {
        if let bias {
            VectorKernels.fillRows(output, rows: rows, width: outputs, with: bias)
        } else if !accumulate {
            output.update(repeating: 0, count: rows * outputs)
        }
    }
}
