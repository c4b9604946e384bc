import CMatrixKernels

/// The encoder's numeric precision for its matrix products.
public enum EmbedderPrecision: String, Sendable, Hashable, CaseIterable {
    /// Every product in fp32: the reference (cosine >= 0.9999 to sentence-transformers).
    case fp32
    /// The four large products of each layer with bf16 inputs and fp32 sums (AVX-512 BF16 only, checked at
    /// run time): about twice the matrix throughput, cosine >= 0.999 to fp32. Attention, GELU, LayerNorm and
    /// pooling stay fp32. A different model version, so stored vectors of the two never mix.
    case bf16

    /// True when this CPU can run `bf16`.
    public static var bfloat16Supported: Bool { vs_bf16_supported() != 0 }
}

/// What computes the four large fp32 products of each layer (query/key/value, attention output and the two
/// feed-forward ones). Both are plain fp32 arithmetic; they differ only in the order of the sums.
public enum MatrixKernel: String, Sendable, Hashable, CaseIterable {
    /// `packed` where the CPU has AVX-512F, else `blas` (the default).
    case auto
    /// Our AVX-512F kernel over weights packed once at load, each output starting from its bias or residual:
    /// no per-call packing of the constant weights and no separate bias pass (about 10 % faster end to end
    /// than OpenBLAS here). Costs a second, packed copy of the layers' weights (85 MB for MiniLM-L6), while
    /// the original pages are handed back to the page cache.
    case packed
    /// OpenBLAS sgemm (`cblas_sgemm`), on every CPU.
    case blas

    /// True when this CPU can run `packed`.
    public static var packedSupported: Bool { vs_f32_supported() != 0 }
}

/// The four large matrix products of an encoder layer.
enum LayerProduct {
    case qkv, attentionOutput, intermediate, output
}

extension BertWeights.Layer {
    /// The weight matrix of `product`, as loaded.
    subscript(product: LayerProduct) -> UnsafePointer<Float> {
        switch product {
        case .qkv: qkvWeight
        case .attentionOutput: attentionOutputWeight
        case .intermediate: intermediateWeight
        case .output: outputWeight
        }
    }
}

/// Each layer's four large weight matrices, packed once at load in the order one of our kernels reads them.
final class PackedWeights<Element>: @unchecked Sendable {  // immutable after init
    struct Layer {
        var qkv: UnsafePointer<Element>
        var attentionOutput: UnsafePointer<Element>
        var intermediate: UnsafePointer<Element>
        var output: UnsafePointer<Element>

        subscript(product: LayerProduct) -> UnsafePointer<Element> {
            switch product {
            case .qkv: qkv
            case .attentionOutput: attentionOutput
            case .intermediate: intermediate
            case .output: output
            }
        }
    }

    let layers: [Layer]
    private let owned: [UnsafeMutablePointer<Element>]

    /// Needs every output width to be a multiple of the kernels' block (64): true for MiniLM (384, 1,152, 1,536).
    static func fits(_ c: BertConfiguration) -> Bool {
        let block = Int(VS_F32_BLOCK)
        return Int(VS_BF16_BLOCK) == block && c.hiddenSize % block == 0 && c.intermediateSize % block == 0
    }

    /// `count(n, k)` elements per packed n x k matrix, filled by `pack(weight, n, k, into)`. Each source matrix's
    /// pages are released right after it is packed (see `MappedFile.release`), so the peak memory is one copy
    /// of the weights, not two.
    init(
        _ weights: BertWeights, count: (Int32, Int32) -> Int,
        pack: (UnsafePointer<Float>, Int32, Int32, UnsafeMutablePointer<Element>) -> Void
    ) {
        let c = weights.configuration
        let h = c.hiddenSize
        var owned: [UnsafeMutablePointer<Element>] = []
        func packed(_ weight: UnsafePointer<Float>, outputs: Int, inputs: Int) -> UnsafePointer<Element> {
            let buffer = UnsafeMutablePointer<Element>.allocate(capacity: count(Int32(outputs), Int32(inputs)))
            pack(weight, Int32(outputs), Int32(inputs), buffer)
            weights.release(weight, count: outputs * inputs)
            owned.append(buffer)
            return UnsafePointer(buffer)
        }
        layers = weights.layers.map { layer in
            Layer(
                qkv: packed(layer.qkvWeight, outputs: 3 * h, inputs: h),
                attentionOutput: packed(layer.attentionOutputWeight, outputs: h, inputs: h),
                intermediate: packed(layer.intermediateWeight, outputs: c.intermediateSize, inputs: h),
                output: packed(layer.outputWeight, outputs: h, inputs: c.intermediateSize))
        }
        self.owned = owned
    }

    deinit {
        for buffer in owned { buffer.deallocate() }
    }
}

extension PackedWeights where Element == Float {
    /// For `vs_f32_gemm`.
    static func float32(_ weights: BertWeights) -> PackedWeights<Float> {
        PackedWeights(weights, count: { vs_f32_packed_count($0, $1) }, pack: { vs_f32_pack_weights($0, $1, $2, $3) })
    }
}

extension PackedWeights where Element == UInt16 {
    /// For `vs_bf16_gemm`: rounded to bf16 (nearest even).
    static func bfloat16(_ weights: BertWeights) -> PackedWeights<UInt16> {
        PackedWeights(weights, count: { vs_bf16_packed_count($0, $1) }, pack: { vs_bf16_pack_weights($0, $1, $2, $3) })
    }
}
