import CBFloat16
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
            scoreCapacity = squared
            scores = BertWeights.allocate(squared)
        }
    }

    deinit {
        for buffer in [states, qkv, context, expanded, scores] { free(buffer) }
        bfloat16?.deallocate()
    }
}

/// The BERT encoder with mean pooling and L2 normalisation, over sequences packed back to back.
///
/// Sequences are not padded: the token-wise parts (projections, feed-forward, LayerNorm) see one matrix
/// of all tokens of the pass, one BLAS call per projection per layer, and attention runs per sequence
/// and head on that sequence's own rows. No compute is spent on padding and no mask is needed.
struct BertEncoder: @unchecked Sendable {  // the weights are immutable
    let weights: BertWeights
    /// Set for the bf16 precision: the layers' weights packed for the bf16 kernel.
    let bfloat16: BFloat16Weights?

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

        for (index, layer) in weights.layers.enumerated() {
            encoderLayer(layer, packed: bfloat16?.layers[index], tokens: total, offsets: offsets, workspace: workspace)
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

    private func encoderLayer(
        _ layer: BertWeights.Layer, packed: BFloat16Weights.Layer?, tokens: Int, offsets: [Int],
        workspace: EncoderWorkspace
    ) {
        let c = configuration
        let h = c.hiddenSize
        let x = workspace.states
        let qkv = workspace.qkv
        let context = workspace.context
        let expanded = workspace.expanded
        let m = Int32(tokens)

        // Fused query/key/value projection for every token of the pass (query pre-scaled by 1/√headSize).
        // Every product accumulates into a matrix that already holds its bias or residual (beta = 1): BLAS
        // then skips its zeroing pass and no separate pass adds them.
        VectorKernels.fillRows(qkv, rows: tokens, width: 3 * h, with: layer.qkvBias)
        linear(x, rows: m, inputs: h, weight: layer.qkvWeight, packed: packed?.qkv, outputs: 3 * h, into: qkv,
               workspace: workspace)

        // Attention per sequence and head, scores kept transposed (keys down, queries across):
        // scoresᵀ = K·Qᵀ, softmax down each column, context = (scoresᵀ)ᵀ·V.
        let d = Int32(c.headSize)
        let stride = Int32(3 * h)
        let scores = workspace.scores
        for index in 0..<(offsets.count - 1) {
            let start = offsets[index]
            let length = offsets[index + 1] - start
            let n = Int32(length)
            // Rows padded to whole vectors for the softmax.
            let scoreStride = Int32((length + VectorKernels.width - 1) & ~(VectorKernels.width - 1))
            let base = qkv + start * 3 * h
            for head in 0..<c.headCount {
                let query = base + head * c.headSize
                let key = base + h + head * c.headSize
                let value = base + 2 * h + head * c.headSize
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, 1, key, stride, query, stride, 0, scores,
                    scoreStride)
                VectorKernels.softmaxColumns(scores, rows: length, columns: length, stride: Int(scoreStride))
                cblas_sgemm(
                    CblasRowMajor, CblasTrans, CblasNoTrans, n, d, n, 1, scores, scoreStride, value, stride, 0,
                    context + start * h + head * c.headSize, Int32(h))
            }
        }

        // Output projection added onto the residual in place, then bias and LayerNorm.
        linear(context, rows: m, inputs: h, weight: layer.attentionOutputWeight, packed: packed?.attentionOutput,
               outputs: h, into: x, workspace: workspace)
        VectorKernels.addLayerNorm(
            x, rows: tokens, width: h, bias: layer.attentionOutputBias,
            gamma: layer.attentionNormGamma, beta: layer.attentionNormBeta, epsilon: c.layerNormEpsilon)

        // Feed-forward: GELU(x·W1ᵀ + b1)·W2ᵀ + b2, residual, LayerNorm.
        VectorKernels.fillRows(expanded, rows: tokens, width: c.intermediateSize, with: layer.intermediateBias)
        linear(x, rows: m, inputs: h, weight: layer.intermediateWeight, packed: packed?.intermediate,
               outputs: c.intermediateSize, into: expanded, workspace: workspace)
        VectorKernels.gelu(expanded, count: tokens * c.intermediateSize)
        linear(expanded, rows: m, inputs: c.intermediateSize, weight: layer.outputWeight, packed: packed?.output,
               outputs: h, into: x, workspace: workspace)
        VectorKernels.addLayerNorm(
            x, rows: tokens, width: h, bias: layer.outputBias,
            gamma: layer.outputNormGamma, beta: layer.outputNormBeta, epsilon: c.layerNormEpsilon)
    }

    /// `output += input · weightᵀ` with PyTorch's [outputs, inputs] weight layout: fp32 through BLAS, or,
    /// given the packed bf16 weights, with the input rounded to bf16 and sums in fp32.
    @inline(__always)
    private func linear(
        _ input: UnsafePointer<Float>, rows: Int32, inputs: Int, weight: UnsafePointer<Float>,
        packed: UnsafePointer<UInt16>?, outputs: Int, into output: UnsafeMutablePointer<Float>,
        workspace: EncoderWorkspace
    ) {
        if let packed, let scratch = workspace.bfloat16 {
            vs_bf16_convert(input, Int(rows) * inputs, scratch)
            vs_bf16_gemm(rows, Int32(outputs), Int32(inputs), scratch, packed, output, Int32(outputs))
            return
        }
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, rows, Int32(outputs), Int32(inputs), 1, input, Int32(inputs),
            weight, Int32(inputs), 1, output, Int32(outputs))
    }
}
