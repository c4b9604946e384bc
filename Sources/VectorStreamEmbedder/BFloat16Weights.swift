import CBFloat16

/// The encoder's numeric precision for its matrix products.
public enum EmbedderPrecision: String, Sendable, Hashable, CaseIterable {
    /// Every product in fp32 through OpenBLAS: the reference (cosine >= 0.9999 to sentence-transformers).
    case fp32
    /// The four large products of each layer with bf16 inputs and fp32 sums (AVX-512 BF16 only, checked at
    /// run time): about twice the matrix throughput, cosine >= 0.999 to fp32. Attention, GELU, LayerNorm and
    /// pooling stay fp32. A different model version, so stored vectors of the two never mix.
    case bf16

    /// True when this CPU can run `bf16`.
    public static var bfloat16Supported: Bool { vs_bf16_supported() != 0 }
}

/// Each layer's weights rounded to bf16 and packed in the order the bf16 kernel reads them.
final class BFloat16Weights: @unchecked Sendable {  // immutable after init
    struct Layer {
        var qkv: UnsafePointer<UInt16>
        var attentionOutput: UnsafePointer<UInt16>
        var intermediate: UnsafePointer<UInt16>
        var output: UnsafePointer<UInt16>
    }

    let layers: [Layer]
    private let owned: [UnsafeMutablePointer<UInt16>]

    /// Needs every output width to be a multiple of the kernel's block (64): true for MiniLM (384, 1,152, 1,536).
    static func fits(_ c: BertConfiguration) -> Bool {
        let block = Int(VS_BF16_BLOCK)
        return c.hiddenSize % block == 0 && c.intermediateSize % block == 0
    }

    init(_ weights: BertWeights) {
        let c = weights.configuration
        let h = c.hiddenSize
        var owned: [UnsafeMutablePointer<UInt16>] = []
        func pack(_ weight: UnsafePointer<Float>, outputs: Int, inputs: Int) -> UnsafePointer<UInt16> {
            let packed = UnsafeMutablePointer<UInt16>.allocate(capacity: vs_bf16_packed_count(Int32(outputs), Int32(inputs)))
            vs_bf16_pack_weights(weight, Int32(outputs), Int32(inputs), packed)
            owned.append(packed)
            return UnsafePointer(packed)
        }
        layers = weights.layers.map { layer in
            Layer(
                qkv: pack(layer.qkvWeight, outputs: 3 * h, inputs: h),
                attentionOutput: pack(layer.attentionOutputWeight, outputs: h, inputs: h),
                intermediate: pack(layer.intermediateWeight, outputs: c.intermediateSize, inputs: h),
                output: pack(layer.outputWeight, outputs: h, inputs: c.intermediateSize))
        }
        self.owned = owned
    }

    deinit {
        for buffer in owned { buffer.deallocate() }
    }
}
