import Foundation

/// The numbers of config.json that shape the network.
public struct BertConfiguration: Sendable, Hashable {
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var vocabularySize: Int
    public var tokenTypeCount: Int
    public var layerNormEpsilon: Float

    public var headSize: Int { hiddenSize / headCount }

    /// Reads config.json and checks what the encoder supports: BERT with absolute positions and exact GELU.
    public init(file path: String) throws {
        let object = try Self.jsonObject(path)
        func int(_ key: String) throws -> Int {
            guard let value = (object[key] as? NSNumber)?.intValue, value > 0 else {
                throw EmbedderError.malformedFile(path: path, reason: "\(key) is missing or not a positive integer")
            }
            return value
        }
        hiddenSize = try int("hidden_size")
        layerCount = try int("num_hidden_layers")
        headCount = try int("num_attention_heads")
        intermediateSize = try int("intermediate_size")
        maxPositions = try int("max_position_embeddings")
        vocabularySize = try int("vocab_size")
        tokenTypeCount = try int("type_vocab_size")
        layerNormEpsilon = Float((object["layer_norm_eps"] as? NSNumber)?.doubleValue ?? 1e-12)
        if let activation = object["hidden_act"] as? String, activation != "gelu" {
            throw EmbedderError.malformedFile(path: path, reason: "hidden_act \(activation) is not supported (only gelu)")
        }
        if let position = object["position_embedding_type"] as? String, position != "absolute" {
            throw EmbedderError.malformedFile(path: path, reason: "position_embedding_type \(position) is not supported")
        }
        guard hiddenSize % headCount == 0, hiddenSize % 16 == 0, intermediateSize % 16 == 0 else {
            throw EmbedderError.malformedFile(
                path: path, reason: "hidden_size \(hiddenSize) / intermediate_size \(intermediateSize) / heads \(headCount) not supported")
        }
    }

    static func jsonObject(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EmbedderError.missingFile(path: path, reason: "file not found or unreadable")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw EmbedderError.malformedFile(path: path, reason: "not a JSON object")
        }
        return object
    }
}

/// Weights of the network: views into the mapped safetensors file, except the fused and pre-scaled
/// query/key/value projection, which is copied once at load time.
final class BertWeights: @unchecked Sendable {  // immutable after init
    struct Layer {
        /// [3·hidden, hidden]: query rows (scaled by 1/√headSize), then key, then value.
        var qkvWeight: UnsafePointer<Float>
        var qkvBias: UnsafePointer<Float>
        var attentionOutputWeight: UnsafePointer<Float>
        var attentionOutputBias: UnsafePointer<Float>
        var attentionNormGamma: UnsafePointer<Float>
        var attentionNormBeta: UnsafePointer<Float>
        var intermediateWeight: UnsafePointer<Float>
        var intermediateBias: UnsafePointer<Float>
        var outputWeight: UnsafePointer<Float>
        var outputBias: UnsafePointer<Float>
        var outputNormGamma: UnsafePointer<Float>
        var outputNormBeta: UnsafePointer<Float>
    }

    let configuration: BertConfiguration
    let file: SafeTensorsFile
    let wordEmbeddings: UnsafePointer<Float>
    let positionEmbeddings: UnsafePointer<Float>
    let tokenTypeEmbeddings: UnsafePointer<Float>
    let embeddingNormGamma: UnsafePointer<Float>
    let embeddingNormBeta: UnsafePointer<Float>
    let layers: [Layer]
    private var owned: [UnsafeMutablePointer<Float>] = []

    init(file: SafeTensorsFile, configuration c: BertConfiguration) throws {
        self.file = file
        self.configuration = c
        let h = c.hiddenSize
        wordEmbeddings = try file.float32("embeddings.word_embeddings.weight", shape: [c.vocabularySize, h])
        positionEmbeddings = try file.float32("embeddings.position_embeddings.weight", shape: [c.maxPositions, h])
        tokenTypeEmbeddings = try file.float32("embeddings.token_type_embeddings.weight", shape: [c.tokenTypeCount, h])
        embeddingNormGamma = try file.float32("embeddings.LayerNorm.weight", shape: [h])
        embeddingNormBeta = try file.float32("embeddings.LayerNorm.bias", shape: [h])
        let scale = 1 / Float(c.headSize).squareRoot()
        var layers: [Layer] = []
        for index in 0..<c.layerCount {
            let prefix = "encoder.layer.\(index)."
            func tensor(_ name: String, _ shape: [Int]) throws -> UnsafePointer<Float> {
                try file.float32(prefix + name, shape: shape)
            }
            let query = try tensor("attention.self.query.weight", [h, h])
            let key = try tensor("attention.self.key.weight", [h, h])
            let value = try tensor("attention.self.value.weight", [h, h])
            let queryBias = try tensor("attention.self.query.bias", [h])
            let keyBias = try tensor("attention.self.key.bias", [h])
            let valueBias = try tensor("attention.self.value.bias", [h])
            let qkv = Self.allocate(3 * h * h)
            let qkvBias = Self.allocate(3 * h)
            for i in 0..<(h * h) {
                qkv[i] = query[i] * scale
            }
            (qkv + h * h).update(from: key, count: h * h)
            (qkv + 2 * h * h).update(from: value, count: h * h)
            for i in 0..<h { qkvBias[i] = queryBias[i] * scale }
            (qkvBias + h).update(from: keyBias, count: h)
            (qkvBias + 2 * h).update(from: valueBias, count: h)
            owned += [qkv, qkvBias]
            layers.append(
                Layer(
                    qkvWeight: UnsafePointer(qkv), qkvBias: UnsafePointer(qkvBias),
                    attentionOutputWeight: try tensor("attention.output.dense.weight", [h, h]),
                    attentionOutputBias: try tensor("attention.output.dense.bias", [h]),
                    attentionNormGamma: try tensor("attention.output.LayerNorm.weight", [h]),
                    attentionNormBeta: try tensor("attention.output.LayerNorm.bias", [h]),
                    intermediateWeight: try tensor("intermediate.dense.weight", [c.intermediateSize, h]),
                    intermediateBias: try tensor("intermediate.dense.bias", [c.intermediateSize]),
                    outputWeight: try tensor("output.dense.weight", [h, c.intermediateSize]),
                    outputBias: try tensor("output.dense.bias", [h]),
                    outputNormGamma: try tensor("output.LayerNorm.weight", [h]),
                    outputNormBeta: try tensor("output.LayerNorm.bias", [h])))
        }
        self.layers = layers
    }

    deinit {
        for pointer in owned { free(pointer) }
    }

    /// Releases the memory of a weight matrix that has been packed elsewhere, if it lies in the mapped file
    /// (see `MappedFile.release`; the pointer stays valid). Copies made at load are kept.
    func release(_ weight: UnsafePointer<Float>, count: Int) {
        file.file.release(UnsafeRawPointer(weight), bytes: count * MemoryLayout<Float>.stride)
    }

    /// 64-byte aligned (one cache line, one AVX-512 register) so that BLAS reads whole lines.
    static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        var raw: UnsafeMutableRawPointer?
        // Not inside precondition(): -Ounchecked would drop the call along with the check.
        let status = posix_memalign(&raw, 64, max(1, count) * MemoryLayout<Float>.stride)
        guard status == 0, let raw else { fatalError("out of memory allocating \(count) floats") }
        return raw.bindMemory(to: Float.self, capacity: count)
    }
}
