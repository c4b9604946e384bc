import Logging

/// What one batch of catalog products did to the vector store.
public struct CatalogWriteResult: Sendable, Hashable {
    /// Texts the embedder computed.
    public var embedded = 0
    /// Records rewritten with a vector that was not computed again (embedding cache, or the stored vector when
    /// only the price changed).
    public var payloadUpdated = 0
    /// Already stored exactly so: nothing written.
    public var unchanged = 0
    /// Product ids written (embedded or payload updated).
    public var written: [String] = []

    public init() {}
}

/// Catalog products into the vector store through the stream's path: the same record hashes
/// (`ContentHash.productText` / `productRecord` under the embedder's model version), the same lookup of what is
/// stored, the same per-product claims (`DedupNamespace.productText`, keyed by product id and released once
/// upserted, as the engine does), the same embedding cache. So a product imported from a file and then seen in the
/// stream (or the other way round) is embedded once, and two workers never write one product at once.
///
/// Beyond the engine: when only a price changed and the cache no longer has the vector (a new process, another
/// worker's cache), the stored vector is reused: its record hash proves it was made from the same text.
public struct CatalogProductWriter: Sendable {
    public let dedup: any DedupStore
    public let embedder: any TextEmbedder
    public let embeddingCache: (any EmbeddingCache)?
    public let vectors: any VectorStore
    public let queryCache: (any QueryCache)?
    public let notifier: (any Notifier)?
    /// First wait before asking again for products another worker holds (doubles up to 2 s).
    public var claimRetryInterval: Duration
    /// Most claim rounds before giving up on products another worker keeps holding (its lease should run out first).
    public var maxClaimWait: Duration = .seconds(600)

    public init(stages: PipelineStages, claimRetryInterval: Duration = .milliseconds(250)) {
        dedup = stages.dedup
        embedder = stages.embedder
        embeddingCache = stages.embeddingCache
        vectors = stages.vectors
        queryCache = stages.queryCache
        notifier = stages.notifier
        self.claimRetryInterval = claimRetryInterval
    }

    /// Writes the products that are new or changed. `products` must have distinct ids (the row reader refuses
    /// duplicates). `batchID` names the batch in the `embeddings_ready` notice.
    public func write(_ products: [Product], batchID: String) async throws -> CatalogWriteResult {
        let modelVersion = embedder.modelVersion
        var result = CatalogWriteResult()
        var latest: [String: (product: Product, textHash: String, record: String)] = [:]
        latest.reserveCapacity(products.count)
        for product in products {
            let textHash = ContentHash.productText(product, modelVersion: modelVersion)
            latest[product.id] = (product, textHash, ContentHash.productRecord(textHash: textHash, product: product))
        }
        var interval = claimRetryInterval
        let giveUp = ContinuousClock.now.advanced(by: maxClaimWait)
        while !latest.isEmpty {
            try Task.checkCancellation()
            let stored = try await vectors.contentHashes(forProducts: Array(latest.keys))
            for (id, entry) in stored where latest[id]?.record == entry.contentHash && entry.modelVersion == modelVersion {
                latest[id] = nil
                result.unchanged += 1
            }
            guard !latest.isEmpty else { break }
            let candidates = latest.sorted { $0.key < $1.key }
            let keys = candidates.map(\.key)
            let outcomes = try await dedup.claim(keys, in: .productText)
            var todo: [(id: String, product: Product, textHash: String, record: String)] = []
            for (index, entry) in candidates.enumerated() {
                switch outcomes[index] {
                case .won:
                    todo.append((entry.key, entry.value.product, entry.value.textHash, entry.value.record))
                    latest[entry.key] = nil
                case .done:
                    latest[entry.key] = nil
                    result.unchanged += 1
                case .heldElsewhere:
                    break
                }
            }
            if !todo.isEmpty {
                let won = todo.map(\.id)
                do {
                    let (embedded, reused) = try await writeVectors(todo, stored: stored, modelVersion: modelVersion)
                    result.embedded += embedded
                    result.payloadUpdated += reused
                    result.written += won
                } catch {
                    try? await dedup.release(won, in: .productText)
                    throw error
                }
                try await dedup.release(won, in: .productText)
            }
            guard !latest.isEmpty else { break }
            guard ContinuousClock.now < giveUp else {
                throw CatalogFileError("\(latest.count) products stayed claimed by another worker for \(maxClaimWait)")
            }
            try await Task.sleep(for: interval)
            interval = min(interval * 2, .seconds(2))
        }
        if !result.written.isEmpty {
            if let notifier {
                try await notifier.embeddingsReady(EmbeddingsReady(productIDs: result.written, modelVersion: modelVersion,
                                                                   batchID: batchID, timestamp: wallClockMillis()))
            }
            if let queryCache { try? await queryCache.invalidateAll() }
        }
        return result
    }

    /// Vectors from the cache, else from the stored record when its text is the same, else the embedder; then
    /// one upsert. Returns (embedded, reused).
    private func writeVectors(_ todo: [(id: String, product: Product, textHash: String, record: String)],
                              stored: [String: (contentHash: String, modelVersion: String)],
                              modelVersion: String) async throws -> (Int, Int) {
        var vectors = [[Float]?](repeating: nil, count: todo.count)
        if let embeddingCache { vectors = try await embeddingCache.vectors(for: todo.map(\.textHash)) }
        // A stored record of the same model whose hash matches this text at the stored price: same text.
        for i in todo.indices where vectors[i] == nil {
            guard let entry = stored[todo[i].id], entry.modelVersion == modelVersion,
                  let existing = try await self.vectors.vector(forProduct: todo[i].id) else { continue }
            var atStoredPrice = todo[i].product
            atStoredPrice.price = existing.price
            if ContentHash.productRecord(textHash: todo[i].textHash, product: atStoredPrice) == existing.contentHash,
               existing.vector.count == embedder.dimension {
                vectors[i] = existing.vector
            }
        }
        let missing = vectors.indices.filter { vectors[$0] == nil }
        if !missing.isEmpty {
            let computed = try await embedder.embed(missing.map { todo[$0].product.embeddingText })
            for (slot, vector) in zip(missing, computed) { vectors[slot] = vector }
            if let embeddingCache {
                var fresh: [String: [Float]] = [:]
                for (slot, vector) in zip(missing, computed) { fresh[todo[slot].textHash] = vector }
                try await embeddingCache.store(fresh)
            }
        }
        let now = wallClockMillis()
        let records = todo.indices.map { i in
            ProductVector(productID: todo[i].id, vector: vectors[i]!, name: todo[i].product.name,
                          category: todo[i].product.category, price: todo[i].product.price,
                          modelVersion: modelVersion, contentHash: todo[i].record, updatedAt: now)
        }
        try await self.vectors.upsert(records)
        return (missing.count, todo.count - missing.count)
    }
}
