import Foundation
import GRDB
import VectorStreamCore

/// An exact in-process vector index, persisted in the embedded database.
///
/// Vectors are unit length, so inner product is cosine. A query, quantized to int8, scans an int8 copy of the matrix
/// (a quarter of the memory traffic of float32, integer arithmetic) and rescores the best candidates exactly in float32: exact top-k in practice,
/// and fast enough up to about 100k products. Past that, use Milvus or Qdrant.
public final class EmbeddedVectorIndex: VectorStore, HealthCheckable, @unchecked Sendable {
    // @unchecked: every stored property below `lock` is read and written only under it.
    private let lock = ReadWriteLock()
    private let database: EmbeddedDatabase
    public let dimension: Int

    private var rowOf: [String: Int] = [:]
    private var ids: [String] = []
    private var vectors: [Float] = []         // rows × dimension, exact
    private var quantized: [Int8] = []        // rows × dimension, per-row scaled
    private var scales: [Float] = []
    private var payloads: [Payload] = []
    private var categoryIDs: [Int32] = []
    private var categoryTable: [String: Int32] = [:]
    private var versionIDs: [Int32] = []
    private var versionTable: [String: Int32] = [:]

    struct Payload {
        var name: String
        var category: String
        var price: Double
        var modelVersion: String
        var contentHash: String
        var updatedAt: EpochMillis
    }

    public var dependencyName: String { "vector-index" }

    public init(database: EmbeddedDatabase, dimension: Int = 384) throws {
        self.database = database
        self.dimension = dimension
        let rows = try database.pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT product_id, vector, name, category, price, model_version, text_hash, updated_at FROM product_vectors
                """)
        }
        for row in rows {
            let data: Data = row[1]
            let vector = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            guard vector.count == dimension else { continue }
            insertInMemory(ProductVector(productID: row[0], vector: vector, name: row[2], category: row[3], price: row[4],
                                         modelVersion: row[5], contentHash: row[6], updatedAt: row[7]))
        }
    }

    public func upsert(_ records: [ProductVector]) async throws {
        for r in records where r.vector.count != dimension {
            throw ConfigurationError("vector of product \(r.productID) has \(r.vector.count) dimensions, expected \(dimension)")
        }
        try await database.pool.write { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO product_vectors(product_id, vector, name, category, price, model_version, text_hash, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(product_id) DO UPDATE SET vector = excluded.vector, name = excluded.name,
                    category = excluded.category, price = excluded.price, model_version = excluded.model_version,
                    text_hash = excluded.text_hash, updated_at = excluded.updated_at
                """)
            for r in records {
                let blob = r.vector.withUnsafeBytes { Data($0) }
                try statement.execute(arguments: [r.productID, blob, r.name, r.category, r.price, r.modelVersion,
                                                  r.contentHash, r.updatedAt])
            }
            try db.execute(sql: """
                INSERT INTO counters(name, value) VALUES ('vectors_upserted', ?)
                ON CONFLICT(name) DO UPDATE SET value = value + excluded.value
                """, arguments: [records.count])
        }
        lock.withWriteLock { for r in records { insertInMemory(r) } }
    }

    /// Caller holds the write lock (or is the initialiser).
    private func insertInMemory(_ r: ProductVector) {
        let row: Int
        if let existing = rowOf[r.productID] {
            row = existing
        } else {
            row = ids.count
            rowOf[r.productID] = row
            ids.append(r.productID)
            vectors.append(contentsOf: repeatElement(0, count: dimension))
            quantized.append(contentsOf: repeatElement(0, count: dimension))
            scales.append(0)
            payloads.append(Payload(name: "", category: "", price: 0, modelVersion: "", contentHash: "", updatedAt: 0))
            categoryIDs.append(0)
            versionIDs.append(0)
        }
        let base = row * dimension
        var maxAbs: Float = 0
        for i in 0..<dimension {
            vectors[base + i] = r.vector[i]
            maxAbs = max(maxAbs, abs(r.vector[i]))
        }
        let scale = maxAbs > 0 ? maxAbs / 127 : 1
        for i in 0..<dimension { quantized[base + i] = Int8((r.vector[i] / scale).rounded()) }
        scales[row] = scale
        payloads[row] = Payload(name: r.name, category: r.category, price: r.price, modelVersion: r.modelVersion,
                                contentHash: r.contentHash, updatedAt: r.updatedAt)
        categoryIDs[row] = intern(r.category, in: &categoryTable)
        versionIDs[row] = intern(r.modelVersion, in: &versionTable)
    }

    private func intern(_ s: String, in table: inout [String: Int32]) -> Int32 {
        if let id = table[s] { return id }
        let id = Int32(table.count + 1)
        table[s] = id
        return id
    }

    public func search(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String) async throws -> [SearchHit] {
        guard query.count == dimension else {
            throw ConfigurationError("query has \(query.count) dimensions, expected \(dimension)")
        }
        guard k > 0 else { return [] }
        return lock.withReadLock { searchLocked(query, k: k, filter: filter, modelVersion: modelVersion) }
    }

    private func searchLocked(_ query: [Float], k: Int, filter: SearchFilter, modelVersion: String) -> [SearchHit] {
        guard let version = versionTable[modelVersion] else { return [] }
        var wantedCategory: Int32 = -1
        if let wanted = filter.category {
            guard let id = categoryTable[wanted] else { return [] }
            wantedCategory = id
        }
        let category = wantedCategory
        let candidates = min(ids.count, (k + filter.excludedProductIDs.count) * 4 + 16)
        // Large indexes are scanned in one slice per core; each slice keeps its own best candidates.
        let rows = ids.count
        let slices = rows >= 20_000 ? min(ProcessInfo.processInfo.activeProcessorCount, 4) : 1
        let partial = UnsafeMutableBufferPointer<TopK>.allocate(capacity: slices)
        defer { partial.deinitialize().deallocate() }
        let out = SliceResults(buffer: partial)
        let scan: @Sendable (Int) -> Void = { slice in
            let lo = rows * slice / slices, hi = rows * (slice + 1) / slices
            out.buffer.baseAddress!.advanced(by: slice).initialize(
                to: self.scanSlice(query, lo..<hi, candidates: candidates, filter: filter, version: version, category: category))
        }
        if slices == 1 { scan(0) } else { DispatchQueue.concurrentPerform(iterations: slices, execute: scan) }
        var top = TopK(capacity: candidates)
        for slice in partial { for (score, row) in zip(slice.scores, slice.rows) { top.offer(score, row) } }
        // Exact rescoring of the candidates.
        let dim = dimension
        var hits: [SearchHit] = []
        hits.reserveCapacity(top.count)
        query.withUnsafeBufferPointer { q in
            vectors.withUnsafeBufferPointer { v in
                for row in top.rows where !filter.excludedProductIDs.contains(ids[row]) {
                    let score = dotFloat(q.baseAddress!, v.baseAddress! + row * dim, dim)
                    let p = payloads[row]
                    hits.append(SearchHit(productID: ids[row], score: score, name: p.name, category: p.category, price: p.price))
                }
            }
        }
        hits.sort { $0.score != $1.score ? $0.score > $1.score : $0.productID < $1.productID }
        return Array(hits.prefix(k))
    }

    /// The best `candidates` rows of `range` by approximate (int8) score. Caller holds the read lock.
    private func scanSlice(_ query: [Float], _ range: Range<Int>, candidates: Int, filter: SearchFilter, version: Int32,
                           category: Int32) -> TopK {
        var top = TopK(capacity: candidates)
        let dim = dimension
        let priceFiltered = filter.minPrice != nil || filter.maxPrice != nil
        // The query in int8 too: integer dot products are several times faster than int8→float conversions,
        // and the candidates are rescored exactly afterwards.
        let queryMax = query.reduce(0) { max($0, abs($1)) }
        let queryScale = queryMax > 0 ? queryMax / 127 : 1
        let q8 = query.map { Int8(($0 / queryScale).rounded()) }
        q8.withUnsafeBufferPointer { q in
            quantized.withUnsafeBufferPointer { m in
                versionIDs.withUnsafeBufferPointer { versions in
                    categoryIDs.withUnsafeBufferPointer { categories in
                        scales.withUnsafeBufferPointer { scales in
                            for row in range {
                                guard versions[row] == version, category < 0 || categories[row] == category else { continue }
                                if priceFiltered {
                                    let price = payloads[row].price
                                    if let lo = filter.minPrice, price < lo { continue }
                                    if let hi = filter.maxPrice, price > hi { continue }
                                }
                                top.offer(Float(dotInt8Int8(q.baseAddress!, m.baseAddress! + row * dim, dim)) * scales[row], row)
                            }
                        }
                    }
                }
            }
        }
        return top
    }

    public func vector(forProduct id: String) async throws -> ProductVector? {
        lock.withReadLock {
            guard let row = rowOf[id] else { return nil }
            let p = payloads[row]
            return ProductVector(productID: id, vector: Array(vectors[row * dimension..<(row + 1) * dimension]),
                                 name: p.name, category: p.category, price: p.price, modelVersion: p.modelVersion,
                                 contentHash: p.contentHash, updatedAt: p.updatedAt)
        }
    }

    public func contentHashes(forProducts ids: [String]) async throws -> [String: (contentHash: String, modelVersion: String)] {
        lock.withReadLock {
            var result: [String: (contentHash: String, modelVersion: String)] = [:]
            for id in ids {
                if let row = rowOf[id] { result[id] = (payloads[row].contentHash, payloads[row].modelVersion) }
            }
            return result
        }
    }

    public func count() async throws -> Int { lock.withReadLock { ids.count } }

    /// Product ids stored under a model version other than `modelVersion` (to re-embed after a model change).
    public func staleProducts(modelVersion: String) -> [String] {
        lock.withReadLock { ids.indices.filter { payloads[$0].modelVersion != modelVersion }.map { ids[$0] } }
    }

    public func checkHealth() async -> DependencyHealth { .ok }
}

/// One result slot per slice; each slice writes only its own.
private struct SliceResults: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<TopK>
}

/// Keeps the `capacity` best (score, row) pairs seen; a min-heap so each offer is O(log n) only when it enters.
struct TopK {
    private(set) var scores: [Float] = []
    private(set) var rows: [Int] = []
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        scores.reserveCapacity(capacity)
        rows.reserveCapacity(capacity)
    }

    var count: Int { rows.count }

    @inline(__always) mutating func offer(_ score: Float, _ row: Int) {
        if scores.count < capacity {
            scores.append(score)
            rows.append(row)
            siftUp(scores.count - 1)
        } else if capacity > 0, score > scores[0] {
            scores[0] = score
            rows[0] = row
            siftDown(0)
        }
    }

    private mutating func siftUp(_ i0: Int) {
        var i = i0
        while i > 0 {
            let parent = (i - 1) / 2
            guard scores[i] < scores[parent] else { return }
            scores.swapAt(i, parent)
            rows.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ i0: Int) {
        var i = i0
        let n = scores.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < n, scores[l] < scores[smallest] { smallest = l }
            if r < n, scores[r] < scores[smallest] { smallest = r }
            guard smallest != i else { return }
            scores.swapAt(i, smallest)
            rows.swapAt(i, smallest)
            i = smallest
        }
    }
}

/// Int8 query · int8 row with Int32 accumulation, sixteen lanes at a time (no float conversion in the loop).
@inline(__always)
func dotInt8Int8(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ n: Int) -> Int32 {
    var acc = SIMD16<Int32>()
    var i = 0
    let aRaw = UnsafeRawPointer(a), bRaw = UnsafeRawPointer(b)
    while i + 16 <= n {
        let x = SIMD16<Int32>(truncatingIfNeeded: aRaw.loadUnaligned(fromByteOffset: i, as: SIMD16<Int8>.self))
        let y = SIMD16<Int32>(truncatingIfNeeded: bRaw.loadUnaligned(fromByteOffset: i, as: SIMD16<Int8>.self))
        acc &+= x &* y
        i += 16
    }
    var sum = acc.wrappedSum()
    while i < n { sum &+= Int32(a[i]) * Int32(b[i]); i += 1 }
    return sum
}

@inline(__always)
func dotFloat(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    let aRaw = UnsafeRawPointer(a), bRaw = UnsafeRawPointer(b)
    while i + 16 <= n {
        acc += aRaw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            * bRaw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    var sum = acc.sum()
    while i < n { sum += a[i] * b[i]; i += 1 }
    return sum
}

/// pthread read-write lock: many concurrent searches, exclusive upserts.
final class ReadWriteLock: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)

    init() { pthread_rwlock_init(lock, nil) }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func withReadLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    func withWriteLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}
