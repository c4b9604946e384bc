import Foundation
import Synchronization
import VectorStreamCore

/// Deterministic unit vectors from a text's hash, counting every text it embeds.
///
/// Stands in for the model where the test is about the pipeline's bookkeeping, not about embeddings.
final class CountingHashEmbedder: TextEmbedder, Sendable {
    let modelVersion: String
    let dimension = 384
    private let counts = Mutex<[String: Int]>([:])

    init(modelVersion: String = "hash-v1") { self.modelVersion = modelVersion }

    var embeddedTexts: [String: Int] { counts.withLock { $0 } }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        counts.withLock { for t in texts { $0[t, default: 0] += 1 } }
        return texts.map(Self.vector)
    }

    static func vector(_ text: String) -> [Float] {
        var state = UInt64(bitPattern: Int64(text.hashValue)) | 1
        var v = (0..<384).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        v = v.map { $0 / n }
        return v
    }
}

/// An event source over records in memory, in batches, committing nothing.
final class ArraySource: EventSource, Sendable {
    private let records: Mutex<ArraySlice<RawRecord>>

    init(_ lines: [[UInt8]], topic: String = "memory") {
        records = Mutex(ArraySlice(lines.enumerated().map {
            RawRecord(bytes: $0.element, position: SourcePosition(topic: topic, partition: 0, offset: Int64($0.offset)),
                      arrivalNanos: monotonicNanos())
        }))
    }

    func nextBatch(maxRecords: Int, deadline: ContinuousClock.Instant) async throws -> RecordBatch? {
        let batch: [RawRecord]? = records.withLock { r in
            guard !r.isEmpty else { return nil }
            let b = Array(r.prefix(maxRecords))
            r = r.dropFirst(b.count)
            return b
        }
        return batch.map { RecordBatch(records: $0, commitToken: CommitToken()) }
    }

    func acknowledge(_ token: CommitToken) async throws {}
}

func temporaryDirectory(_ name: String = #function) -> String {
    let path = NSTemporaryDirectory() + "vectorstream-tests-\(name.filter(\.isLetter))-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
