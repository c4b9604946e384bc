import Foundation
import Testing

import VectorStreamEmbedder

/// Paths and shared fixtures of the embedder tests.
enum Fixtures {
    /// Repository root: this file is Tests/VectorStreamEmbedderTests/Support.swift.
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// The reference made by sentence-transformers (scripts/make-minilm-reference.py), in the repository's testdata/.
    static let referencePath = repositoryRoot + "/testdata/minilm-reference.json"
    static let extraReferencePath = repositoryRoot + "/benchmarks/embeddings/extra-reference.json"

    struct ReferenceSentence: Decodable {
        var text: String
        var input_ids: [Int32]
        var tokens: [String]
        var embedding: [Float]
    }

    struct Reference: Decodable {
        var sentences: [ReferenceSentence]
    }

    struct ExtraText: Decodable {
        var name: String
        var text: String
        var input_ids: [Int32]
        var tokens: [String]
        var embedding: [Float]?
    }

    struct ExtraReference: Decodable {
        var texts: [ExtraText]
    }

    static func reference() throws -> Reference {
        let data = try Data(contentsOf: URL(fileURLWithPath: referencePath))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    static func extraReference() throws -> ExtraReference {
        let data = try Data(contentsOf: URL(fileURLWithPath: extraReferencePath))
        return try JSONDecoder().decode(ExtraReference.self, from: data)
    }

    /// One embedder for all tests: loading parses the vocabulary and copies weights, too slow in debug per test.
    static let sharedEmbedder: Result<MiniLMEmbedder, any Error> = Result {
        try MiniLMEmbedder(configuration: .init(threads: 2, batchSize: 8))
    }

    static func embedder() throws -> MiniLMEmbedder { try sharedEmbedder.get() }

    static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        var dot: Double = 0
        var na: Double = 0
        var nb: Double = 0
        for i in a.indices {
            dot += Double(a[i]) * Double(b[i])
            na += Double(a[i]) * Double(a[i])
            nb += Double(b[i]) * Double(b[i])
        }
        return Float(dot / (na.squareRoot() * nb.squareRoot()))
    }

    /// A scratch directory, removed by the caller.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "vectorstream-embedder-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
